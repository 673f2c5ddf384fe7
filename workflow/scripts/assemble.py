# First: this checkout's mwalign, then the job's log, GPUs and threads, before the
# stage's imports can initialise CUDA (workflow/scripts/mwalign_job.py).
from mwalign_job import start

start(snakemake)

from mwalign.assemble import assemble

assemble(
    corpus_path=snakemake.input.corpus,
    shards=snakemake.params.shards,
    shard_stats=snakemake.params.stats,
    settings=snakemake.params.settings,
    seed=snakemake.params.seed,
    multiway_path=snakemake.output.multiway,
    enx_path=snakemake.output.enx,
    card_path=snakemake.output.card,
    similarity=snakemake.params.similarity,
)
