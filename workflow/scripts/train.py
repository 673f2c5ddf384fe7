import sys
from pathlib import Path

# This checkout's workflow/ first: the job runs its own mwalign, never an installed copy.
# (Snakemake sets __file__ to the script's real path.)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mwalign.runner import start_job

# First: the job takes its GPUs before the stage's imports can initialise CUDA.
start_job(snakemake.log[0], snakemake.threads, gpus=snakemake.resources.get("gpu", 0))

from mwalign.train import train_job

train_job(
    params=snakemake.params.settings,
    dataset_path=snakemake.input.dataset,
    student_path=snakemake.input.student,
    out_dir=snakemake.output.model,
    teacher_path=snakemake.input.get("teacher"),
    log_dir=f"logs/train/{snakemake.wildcards.run}.tensorboard",
    processes=max(1, int(snakemake.resources.get("gpu", 1))),
    threads=snakemake.threads,
    log_path=snakemake.log[0],
    # read from the config, not params: changing the trackers never retrains a model
    report_to=snakemake.config["train"]["report_to"],
)
