from mwalign.runner import start_job
from mwalign.teacher import embed_teacher

start_job(snakemake.log[0], snakemake.threads)
embed_teacher(
    model_path=snakemake.input.model,
    corpus_path=snakemake.input.corpus,
    out_path=snakemake.output.embeddings,
    info_path=snakemake.output.info,
    settings=snakemake.params.settings,
    multiway_path=snakemake.input.get("multiway"),
)
