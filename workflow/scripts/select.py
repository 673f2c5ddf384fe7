# First: this checkout's mwalign, then the job's log (workflow/scripts/mwalign_job.py).
from mwalign_job import start

start(snakemake)

from pathlib import Path

from mwalign.train.sweep import select_point

# every point's model lies in the folder of the trained models
models_dir = Path(snakemake.input.points[0]).parent
select_point(snakemake.params.settings, models_dir, snakemake.output.model)
