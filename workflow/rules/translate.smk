rule convert_ctranslate2:
    input:
        model=lambda wc: convert_params(config, wc.translator)["model_dir"],
    output:
        directory(f"{CT2_DIR}/{{translator}}"),
    log:
        "logs/convert_ctranslate2/{translator}.log",
    benchmark:
        "benchmarks/convert_ctranslate2/{translator}.tsv"
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        model_id=lambda wc: convert_params(config, wc.translator)["model_id"],
    script:
        "../scripts/convert_ctranslate2.py"


rule translate:
    input:
        unpack(translate_inputs),
    output:
        shard="results/translations/{lang}/{shard}.parquet",
        stats="results/translations/{lang}/{shard}.stats.json",
    log:
        "logs/translate/{lang}/{shard}.log",
    benchmark:
        "benchmarks/translate/{lang}/{shard}.tsv"
    priority: PRIORITY["setup"]
    conda:
        translate_env(config["translate"]["backend"])
    threads: 1
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=translate_gpus(config["translate"]),
    params:
        settings=lambda wc: canonical(translate_job_params(config, wc.lang)),
        seed=config["seed"],
        work_dir=lambda wc: f"results/translations/{wc.lang}/.work/{wc.shard}",
    script:
        "../scripts/translate.py"


rule similarity:
    input:
        shard=rules.translate.output.shard,
        encoder=lambda wc: model_dir(SIMILARITY["model"]),
    output:
        scores=f"results/translations/{{lang}}/{{shard}}{SIMILARITY_SUFFIX}",
        stats="results/translations/{lang}/{shard}.similarity.json",
    log:
        "logs/similarity/{lang}/{shard}.log",
    benchmark:
        "benchmarks/similarity/{lang}/{shard}.tsv"
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        settings=canonical(SIMILARITY),
        cache_dir="results/translations/.similarity-cache",
    script:
        "../scripts/similarity.py"
