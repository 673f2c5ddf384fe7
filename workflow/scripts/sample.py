# First: this checkout's mwalign, then the job's log, GPUs and threads, before the
# stage's imports can initialise CUDA (workflow/scripts/mwalign_job.py).
from mwalign_job import start

start(snakemake)

from mwalign.sample.corpus import sample_corpus

sample_corpus(
    settings=snakemake.params.corpus,
    seed=snakemake.params.seed,
    out_path=snakemake.output.corpus,
    stats_path=snakemake.output.stats,
)
