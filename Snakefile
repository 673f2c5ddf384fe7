# multiway-align: wiring only. Logic lives in workflow/mwalign; one rule file per stage.
from snakemake.utils import min_version

min_version("9.0")


# The default experiment, unless --configfile names another one: an experiment file
# replaces config.yaml instead of being merged into it (no runs leak between them).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "workflow/rules/common.smk"


# Quick bookkeeping jobs run in the main process, never as cluster jobs.
localrules:
    all,
    fetch_model,
    report,


include: "workflow/rules/models.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/translate.smk"
include: "workflow/rules/assemble.smk"
include: "workflow/rules/teacher.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.report.output,
        rules.teacher.output,
