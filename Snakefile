# multiway-align: wiring only. Logic lives in workflow/mwalign; one rule file per stage.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# This checkout's package first, for the workflow and for every job: each job script
# starts with workflow/scripts/mwalign_job.py, which does the same in the job's process.
sys.path.insert(0, os.path.join(workflow.basedir, "workflow"))

from mwalign.config import check_config_file, or_exit

# The default experiment, unless --configfile names another one: an experiment file
# replaces config.yaml instead of being merged into it (no runs leak between them).
# Every config file gets the same reading (mwalign.config.read_config_file): a syntax
# error, a key given twice, an alias bomb are reported with file, line and column.
for overlay in workflow.overwrite_configfiles:
    or_exit(check_config_file, overlay)
if not workflow.overwrite_configfiles:
    or_exit(check_config_file, "config.yaml")

    configfile: "config.yaml"


include: "workflow/rules/common.smk"


# Quick bookkeeping jobs run in the main process, never as cluster jobs.
localrules:
    all,
    fetch_model,
    report,
    select,


include: "workflow/rules/models.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/translate.smk"
include: "workflow/rules/assemble.smk"
include: "workflow/rules/teacher.smk"
include: "workflow/rules/frozen.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


# Every product (mwalign.products): a missing one is made again, a damaged one too.
rule all:
    default_target: True
    input:
        all_inputs,
