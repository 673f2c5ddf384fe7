from mwalign.assemble import assemble
from mwalign.runner import start_job

start_job(snakemake.log[0], snakemake.threads)
assemble(
    snakemake.input.corpus,
    snakemake.params.shards,
    snakemake.params.stats,
    snakemake.params.settings,
    snakemake.params.seed,
    snakemake.output.multiway,
    snakemake.output.enx,
    snakemake.output.card,
)
