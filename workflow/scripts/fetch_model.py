# First: this checkout's mwalign, then the job's log, GPUs and threads, before the
# stage's imports can initialise CUDA (workflow/scripts/mwalign_job.py).
from mwalign_job import start

start(snakemake)

from mwalign.models.fetch import materialise_model

materialise_model(
    snakemake.params.model_id,
    snakemake.output[0],
    allow_remote_code=snakemake.params.allow_remote_code,
    kind=snakemake.params.kind,
    gguf_file=snakemake.params.gguf_file,
)
