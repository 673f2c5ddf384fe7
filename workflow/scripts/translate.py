from mwalign.runner import start_job
from mwalign.translate import translate_shard

start_job(snakemake.log[0], snakemake.threads)
translate_shard(
    snakemake.input.corpus,
    snakemake.wildcards.lang,
    int(snakemake.wildcards.shard),
    snakemake.params.settings,
    snakemake.output.shard,
    snakemake.output.stats,
    snakemake.params.work_dir,
    snakemake.params.seed,
)
