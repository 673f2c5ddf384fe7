import sys
from pathlib import Path

# This checkout's workflow/ first: the job runs its own mwalign, never an installed copy.
# (Snakemake sets __file__ to the script's real path.)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mwalign.runner import start_job

# First: the job takes its GPUs before the stage's imports can initialise CUDA.
start_job(snakemake.log[0], snakemake.threads, gpus=snakemake.resources.get("gpu", 0))

from mwalign.translate import translate_shard

translate_shard(
    corpus_path=snakemake.input.corpus,
    lang=snakemake.wildcards.lang,
    shard=int(snakemake.wildcards.shard),
    params=snakemake.params.settings,
    out_path=snakemake.output.shard,
    stats_path=snakemake.output.stats,
    work_dir=snakemake.params.work_dir,
    seed=snakemake.params.seed,
    model_dir=snakemake.input.get("model"),
)
