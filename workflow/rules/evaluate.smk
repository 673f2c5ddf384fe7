rule evaluate:
    input:
        model=lambda wc: eval_model_dir(wc.model),
    output:
        result="results/eval/{model}/{task}.json",
        per_item="results/eval/{model}/{task}.items.parquet",
    log:
        "logs/evaluate/{model}/{task}.log",
    benchmark:
        "benchmarks/evaluate/{model}/{task}.tsv"
    priority: eval_priority
    conda:
        "../../envs/gpu.yaml"
    threads: eval_threads
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    params:
        settings=lambda wc: canonical(evaluate_params(config, wc.model, wc.task)),
        cache_dir=lambda wc: f"results/eval/.cache/{wc.model}",
    script:
        "../scripts/evaluate.py"
