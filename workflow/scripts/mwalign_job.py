"""What every job script does first: import this checkout's mwalign, then start the job.

Snakemake runs a rule's script from a copy under .snakemake/scripts/ and appends the
script's own folder (workflow/scripts/) to ``sys.path``, which is how a script finds this
module. Importing it puts the checkout's workflow/ first on ``sys.path``, so the job
imports the mwalign of the checkout whose Snakefile started it, never another installed
copy (tests/test_reliability.py runs two checkouts with one virtualenv). The Snakefile
does the same for the workflow's own process; torchrun's workers get it through
PYTHONPATH (:func:`mwalign.runner.checkout_pythonpath`).
"""

import sys
from pathlib import Path

WORKFLOW_DIR = str(Path(__file__).resolve().parents[1])
if sys.path[:1] != [WORKFLOW_DIR]:
    sys.path.insert(0, WORKFLOW_DIR)


def start(snakemake) -> None:
    """Log to the rule's log file, take its GPUs (``resources: gpu``) and threads, point the
    caches into the project (:func:`mwalign.runner.start_job`); record the job's outputs
    when it ends without an error (:func:`mwalign.runner.record_outputs_at_exit`).

    Call it before importing the stage's code: the job takes its GPUs before anything
    can initialise CUDA.
    """
    from mwalign.runner import record_outputs_at_exit, start_job

    start_job(snakemake.log[0], snakemake.threads, gpus=snakemake.resources.get("gpu", 0))
    record_outputs_at_exit(list(snakemake.output), dict(snakemake.params))
