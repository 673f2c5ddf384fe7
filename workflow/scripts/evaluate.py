import sys
from pathlib import Path

# This checkout's workflow/ first: the job runs its own mwalign, never an installed copy.
# (Snakemake sets __file__ to the script's real path.)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mwalign.runner import start_job

# First: the job takes its GPUs before the stage's imports can initialise CUDA.
start_job(snakemake.log[0], snakemake.threads, gpus=snakemake.resources.get("gpu", 0))

from mwalign.evaluate import evaluate_model

evaluate_model(
    model_path=snakemake.input.model,
    task=snakemake.wildcards.task,
    params=snakemake.params.settings,
    out_path=snakemake.output.result,
    cache_dir=snakemake.params.cache_dir,
)
