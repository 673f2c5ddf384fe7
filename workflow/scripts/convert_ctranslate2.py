# First: this checkout's mwalign, then the job's log, GPUs and threads, before the
# stage's imports can initialise CUDA (workflow/scripts/mwalign_job.py).
from mwalign_job import start

start(snakemake)

from mwalign.translate.convert import convert_model

convert_model(
    model_id=snakemake.params.model_id,
    model_dir=snakemake.input.model,
    out_dir=snakemake.output[0],
)
