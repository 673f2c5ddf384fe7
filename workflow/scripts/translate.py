# First: this checkout's mwalign, then the job's log, GPUs and threads, before the
# stage's imports can initialise CUDA (workflow/scripts/mwalign_job.py).
from mwalign_job import start

start(snakemake)

from mwalign.translate.shard import translate_shard

translate_shard(
    corpus_path=snakemake.input.corpus,
    lang=snakemake.wildcards.lang,
    shard=int(snakemake.wildcards.shard),
    params=snakemake.params.settings,
    out_path=snakemake.output.shard,
    stats_path=snakemake.output.stats,
    work_dir=snakemake.params.work_dir,
    seed=snakemake.params.seed,
    model_dir=snakemake.input.get("model"),
)
