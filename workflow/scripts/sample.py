from mwalign.runner import start_job
from mwalign.sample import sample_corpus

start_job(snakemake.log[0], snakemake.threads)
sample_corpus(
    snakemake.params.corpus,
    snakemake.params.seed,
    snakemake.output.corpus,
    snakemake.output.stats,
)
