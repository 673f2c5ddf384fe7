from mwalign.assemble import assemble
from mwalign.runner import start_job

start_job(snakemake.log[0], snakemake.threads)
assemble(
    corpus_path=snakemake.input.corpus,
    shards=snakemake.params.shards,
    shard_stats=snakemake.params.stats,
    settings=snakemake.params.settings,
    seed=snakemake.params.seed,
    multiway_path=snakemake.output.multiway,
    enx_path=snakemake.output.enx,
    card_path=snakemake.output.card,
)
