from mwalign.runner import start_job
from mwalign.translate.convert import convert_model

start_job(snakemake.log[0], snakemake.threads)
convert_model(
    model_id=snakemake.params.model_id,
    model_dir=snakemake.input.model,
    out_dir=snakemake.output[0],
)
