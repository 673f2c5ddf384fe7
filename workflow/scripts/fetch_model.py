import sys
from pathlib import Path

# This checkout's workflow/ first: the job runs its own mwalign, never an installed copy.
# (Snakemake sets __file__ to the script's real path.)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mwalign.runner import start_job

# First: the job takes its GPUs before the stage's imports can initialise CUDA.
start_job(snakemake.log[0], snakemake.threads, gpus=snakemake.resources.get("gpu", 0))

from mwalign.models.fetch import materialise_model

materialise_model(
    snakemake.params.model_id,
    snakemake.output[0],
    allow_remote_code=snakemake.params.allow_remote_code,
    kind=snakemake.params.kind,
    gguf_file=snakemake.params.gguf_file,
)
