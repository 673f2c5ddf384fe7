rule sample:
    input:
        corpus_file_input,
    output:
        corpus="results/corpus/en.parquet",
        stats="results/corpus/stats.json",
    log:
        "logs/sample.log",
    benchmark:
        "benchmarks/sample.tsv"
    priority: PRIORITY["setup"]
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        corpus=canonical(config["corpus"]),
        seed=config["seed"],
    script:
        "../scripts/sample.py"
