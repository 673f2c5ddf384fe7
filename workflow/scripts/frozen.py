# First: this checkout's mwalign, then the job's log, GPUs and threads, before the
# stage's imports can initialise CUDA (workflow/scripts/mwalign_job.py).
from mwalign_job import start

start(snakemake)

from mwalign.frozen import embed_frozen

embed_frozen(
    student_path=snakemake.input.student,
    dataset_path=snakemake.input.dataset,
    out_path=snakemake.output.embeddings,
    info_path=snakemake.output.info,
    settings=snakemake.params.settings,
)
