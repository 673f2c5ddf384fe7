from mwalign.runner import start_job
from mwalign.train import train_job

start_job(snakemake.log[0], snakemake.threads)
train_job(
    snakemake.params.settings,
    snakemake.input.dataset,
    snakemake.input.student,
    snakemake.output.model,
    teacher_path=snakemake.input.get("teacher"),
    log_dir=f"logs/train/{snakemake.wildcards.run}.tensorboard",
    processes=max(1, int(snakemake.resources.get("gpu", 1))),
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
