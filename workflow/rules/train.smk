rule train:
    input:
        unpack(train_inputs),
    output:
        model=directory("results/models/{run}"),
    log:
        "logs/train/{run}.log",
    benchmark:
        "benchmarks/train/{run}.tsv"
    priority: PRIORITY["train"]
    conda:
        "../../envs/gpu.yaml"
    threads: WHOLE_MACHINE
    resources:
        mem_mb=16000,
        runtime=720,
        gpu=1,
    params:
        settings=lambda wc: canonical(train_params(config, wc.run)),
    script:
        "../scripts/train.py"
