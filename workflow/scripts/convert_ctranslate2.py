from mwalign.runner import start_job
from mwalign.translate.convert import convert_model

start_job(snakemake.log[0], snakemake.threads)
convert_model(
    model_id=snakemake.params.model_id,
    out_dir=snakemake.output[0],
    trust_remote_code=snakemake.params.allow_remote_code,
)
