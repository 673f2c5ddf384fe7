from mwalign.models import materialise_model
from mwalign.runner import start_job

start_job(snakemake.log[0], snakemake.threads)
materialise_model(
    snakemake.params.model_id,
    snakemake.output[0],
    allow_remote_code=snakemake.params.allow_remote_code,
)
