# First: this checkout's mwalign, then the job's log, GPUs and threads, before the
# stage's imports can initialise CUDA (workflow/scripts/mwalign_job.py).
from mwalign_job import start

start(snakemake)

from mwalign.evaluate.run import evaluate_model

evaluate_model(
    model_path=snakemake.input.model,
    task=snakemake.wildcards.task,
    params=snakemake.params.settings,
    out_path=snakemake.output.result,
    cache_dir=snakemake.params.cache_dir,
)
