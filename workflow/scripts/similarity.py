# First: this checkout's mwalign, then the job's log, GPUs and threads, before the
# stage's imports can initialise CUDA (workflow/scripts/mwalign_job.py).
from mwalign_job import start

start(snakemake)

from mwalign.translate.similarity import score_shard

score_shard(
    shard_path=snakemake.input.shard,
    encoder_dir=snakemake.input.encoder,
    settings=snakemake.params.settings,
    cache_dir=snakemake.params.cache_dir,
    out_path=snakemake.output.scores,
    stats_path=snakemake.output.stats,
)
