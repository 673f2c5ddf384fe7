rule translate:
    input:
        corpus=rules.sample.output.corpus,
    output:
        shard="results/translations/{lang}/{shard}.parquet",
        stats="results/translations/{lang}/{shard}.stats.json",
    log:
        "logs/translate/{lang}/{shard}.log",
    benchmark:
        "benchmarks/translate/{lang}/{shard}.tsv"
    conda:
        translate_env(config["translate"]["backend"])
    threads: 1
    priority: PRIORITY["setup"]
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=uses_gpu(config["translate"]["backend"]),
    params:
        settings=lambda wc: canonical(plan.translate_job_params(config, wc.lang)),
        seed=config["seed"],
        work_dir=lambda wc: f"results/translations/{wc.lang}/.work/{wc.shard}",
    script:
        "../scripts/translate.py"
