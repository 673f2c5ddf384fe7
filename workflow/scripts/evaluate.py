from mwalign.evaluate import evaluate_model
from mwalign.runner import start_job

start_job(snakemake.log[0], snakemake.threads)
evaluate_model(
    snakemake.input.model,
    snakemake.wildcards.task,
    snakemake.params.settings,
    snakemake.output.result,
    snakemake.params.cache_dir,
)
