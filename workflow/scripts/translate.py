from mwalign.runner import start_job
from mwalign.translate import translate_shard

start_job(snakemake.log[0], snakemake.threads)
translate_shard(
    corpus_path=snakemake.input.corpus,
    lang=snakemake.wildcards.lang,
    shard=int(snakemake.wildcards.shard),
    params=snakemake.params.settings,
    out_path=snakemake.output.shard,
    stats_path=snakemake.output.stats,
    work_dir=snakemake.params.work_dir,
    seed=snakemake.params.seed,
)
