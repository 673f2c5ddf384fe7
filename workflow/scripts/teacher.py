from mwalign.runner import start_job
from mwalign.teacher import embed_teacher

start_job(snakemake.log[0], snakemake.threads)
embed_teacher(
    snakemake.input.model,
    snakemake.input.corpus,
    snakemake.output.embeddings,
    snakemake.output.info,
    snakemake.params.settings,
    multiway_path=snakemake.input.get("multiway"),
)
