from mwalign.report.experiment import experiment_facts
from mwalign.report.pairing import config_comparisons, resolved_runs

# What the report compares, and what it does not and why: shown by `snakemake -n`.
REPORT_PLAN = config_comparisons(config)


rule report:
    input:
        results=expand("results/eval/{model}/{task}.json", model=EVAL_MODELS, task=TASKS),
        per_item=expand("results/eval/{model}/{task}.items.parquet", model=EVAL_MODELS, task=TASKS),
        models=[eval_model_dir(model) for model in EVAL_MODELS],
    output:
        scores="results/report/scores.parquet",
        summary="results/report/summary.md",
        html=report("results/report/summary.html", category="Summary"),
        plots=report(
            directory("results/report/plots"),
            patterns=["{name}.png", "{name}.svg"],
            category="Plots",
        ),
        cards=directory("results/report/cards"),
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/report.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models={model: eval_model_dir(model) for model in EVAL_MODELS},
        settings=canonical(config["report"]),
        experiment=canonical(experiment_facts(config)),
        runs=canonical(resolved_runs(config)),
    message:
        REPORT_PLAN.message()
    script:
        "../scripts/report.py"
