rule frozen:
    input:
        dataset=lambda wc: getattr(rules.assemble.output, wc.dataset),
        student=lambda wc: student_dir(wc.student),
    output:
        embeddings="results/frozen/{student}/{dataset}.parquet",
        info="results/frozen/{student}/{dataset}.json",
    log:
        "logs/frozen/{student}/{dataset}.log",
    benchmark:
        "benchmarks/frozen/{student}/{dataset}.tsv"
    priority: PRIORITY["train"]
    conda:
        "../../envs/gpu.yaml"
    threads: WHOLE_MACHINE
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1,
    params:
        settings=lambda wc: canonical(frozen_params(config, wc.student, wc.dataset)),
    script:
        "../scripts/frozen.py"
