from mwalign.runner import start_job
from mwalign.sample import sample_corpus

start_job(snakemake.log[0], snakemake.threads)
sample_corpus(
    settings=snakemake.params.corpus,
    seed=snakemake.params.seed,
    out_path=snakemake.output.corpus,
    stats_path=snakemake.output.stats,
)
