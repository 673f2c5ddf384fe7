rule teacher:
    input:
        unpack(teacher_extra_inputs),
        corpus=rules.sample.output.corpus,
        model=model_dir(config["teacher"]["model"]),
    output:
        embeddings=f"results/teacher/{TEACHER}.parquet",
        info=f"results/teacher/{TEACHER}.json",
    log:
        f"logs/teacher/{TEACHER}.log",
    benchmark:
        f"benchmarks/teacher/{TEACHER}.tsv"
    priority: TEACHER_PRIORITY
    conda:
        "../../envs/gpu.yaml"
    threads: WHOLE_MACHINE
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1,
    params:
        settings=canonical(config["teacher"]),
    script:
        "../scripts/teacher.py"
