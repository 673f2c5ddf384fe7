def train_inputs(wildcards):
    params = train_params(config, wildcards.run)
    inputs = {
        "dataset": f"results/dataset/{params['data']}.parquet",
        "student": student_dir(params["student"]["name"]),
    }
    if params["teacher"]:
        inputs["teacher"] = rules.teacher.output.embeddings
    return inputs


rule train:
    input:
        unpack(train_inputs),
    output:
        model=directory("results/models/{run}"),
    params:
        settings=lambda wc: canonical(train_params(config, wc.run)),
    log:
        "logs/train/{run}.log",
    benchmark:
        "benchmarks/train/{run}.tsv"
    threads: workflow.cores
    resources:
        mem_mb=16000,
        runtime=720,
        gpu=1,
    script:
        "../scripts/train.py"
