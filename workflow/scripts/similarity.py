from mwalign.runner import start_job
from mwalign.translate.similarity import score_shard

start_job(snakemake.log[0], snakemake.threads)
score_shard(
    shard_path=snakemake.input.shard,
    encoder_dir=snakemake.input.encoder,
    settings=snakemake.params.settings,
    cache_dir=snakemake.params.cache_dir,
    out_path=snakemake.output.scores,
    stats_path=snakemake.output.stats,
)
