rule fetch_model:
    output:
        directory("resources/models/{slug}"),
    log:
        "logs/fetch_model/{slug}.log",
    benchmark:
        "benchmarks/fetch_model/{slug}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        model_id=lambda wc: MODEL_IDS[wc.slug],
        allow_remote_code=lambda wc: remote_code_allowed(config, MODEL_IDS[wc.slug]),
    script:
        "../scripts/fetch_model.py"
