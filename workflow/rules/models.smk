rule fetch_model:
    output:
        directory("resources/models/{slug}"),
    log:
        "logs/fetch_model/{slug}.log",
    benchmark:
        "benchmarks/fetch_model/{slug}.tsv"
    priority: PRIORITY["setup"]
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        model_id=lambda wc: fetch_params(config, wc.slug)["model_id"],
        allow_remote_code=lambda wc: fetch_params(config, wc.slug)["allow_remote_code"],
        kind=lambda wc: fetch_params(config, wc.slug)["kind"],
        gguf_file=lambda wc: fetch_params(config, wc.slug)["gguf_file"],
    script:
        "../scripts/fetch_model.py"
