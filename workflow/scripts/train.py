# First: this checkout's mwalign, then the job's log, GPUs and threads, before the
# stage's imports can initialise CUDA (workflow/scripts/mwalign_job.py).
from mwalign_job import start

start(snakemake)

from mwalign.train.job import TrainJob
from mwalign.train.launch import train_job

job = TrainJob(
    params=snakemake.params.settings,
    dataset_path=snakemake.input.dataset,
    student_path=snakemake.input.student,
    out_dir=snakemake.output.model,
    teacher_path=snakemake.input.get("teacher"),
    frozen_path=snakemake.input.get("frozen"),
    log_dir=f"logs/train/{snakemake.wildcards.run}.tensorboard",
    # read from the config, not params: changing the trackers never retrains a model
    report_to=snakemake.config["train"]["report_to"],
)
train_job(
    job,
    processes=max(1, int(snakemake.resources.get("gpu", 1))),
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
