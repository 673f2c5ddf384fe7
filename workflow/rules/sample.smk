rule sample:
    output:
        corpus="results/corpus/en.parquet",
        stats="results/corpus/stats.json",
    params:
        corpus=canonical(config["corpus"]),
        seed=config["seed"],
    log:
        "logs/sample.log",
    benchmark:
        "benchmarks/sample.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/sample.py"
