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


rule select:
    input:
        points=lambda wc: [f"results/models/{job}" for job in SWEPT[wc.swept]],
    output:
        model=directory("results/models/{swept}"),
    log:
        "logs/select/{swept}.log",
    benchmark:
        "benchmarks/select/{swept}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=lambda wc: canonical(selection_params(config, wc.swept)),
    script:
        "../scripts/select.py"
