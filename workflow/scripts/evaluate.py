from mwalign.evaluate import evaluate_model
from mwalign.runner import start_job

start_job(snakemake.log[0], snakemake.threads)
evaluate_model(
    model_path=snakemake.input.model,
    task=snakemake.wildcards.task,
    params=snakemake.params.settings,
    out_path=snakemake.output.result,
    cache_dir=snakemake.params.cache_dir,
)
