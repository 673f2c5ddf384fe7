import sys
from pathlib import Path

# This checkout's workflow/ first: the job runs its own mwalign, never an installed copy.
# (Snakemake sets __file__ to the script's real path.)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mwalign.runner import start_job

# First: the job takes its GPUs before the stage's imports can initialise CUDA.
start_job(snakemake.log[0], snakemake.threads, gpus=snakemake.resources.get("gpu", 0))

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
