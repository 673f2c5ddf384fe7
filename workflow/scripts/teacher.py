# First: this checkout's mwalign, then the job's log, GPUs and threads, before the
# stage's imports can initialise CUDA (workflow/scripts/mwalign_job.py).
from mwalign_job import start

start(snakemake)

from mwalign.teacher import embed_teacher

embed_teacher(
    model_path=snakemake.input.model,
    corpus_path=snakemake.input.corpus,
    out_path=snakemake.output.embeddings,
    info_path=snakemake.output.info,
    settings=snakemake.params.settings,
    multiway_path=snakemake.input.get("multiway"),
)
