def teacher_extra_inputs(wildcards):
    """The multi-way dataset only when the teacher also embeds target languages."""
    if set(config["teacher"]["languages"]) - {"en"}:
        return {"multiway": rules.assemble.output.multiway}
    return {}


rule teacher:
    input:
        unpack(teacher_extra_inputs),
        corpus=rules.sample.output.corpus,
        model=model_dir(config["teacher"]["model"]),
    output:
        embeddings=f"results/teacher/{TEACHER}.parquet",
        info=f"results/teacher/{TEACHER}.json",
    params:
        settings=canonical(config["teacher"]),
    log:
        f"logs/teacher/{TEACHER}.log",
    benchmark:
        f"benchmarks/teacher/{TEACHER}.tsv"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1,
    script:
        "../scripts/teacher.py"
