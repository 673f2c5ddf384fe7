from mwalign.runner import start_job
from mwalign.train import train_run

start_job(snakemake.log[0], snakemake.threads)
train_run(
    snakemake.params.settings,
    snakemake.input.dataset,
    snakemake.input.student,
    snakemake.output.model,
    teacher_path=snakemake.input.get("teacher"),
    log_dir=f"logs/train/{snakemake.wildcards.run}.tensorboard",
)
