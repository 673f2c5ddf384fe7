"""The drift regulariser in the workflow on a tiny config: rule frozen runs once per
(student, dataset), runs of that student share its output, a rerun does not recompute it,
and an experiment without the regulariser plans no frozen job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mwalign.files import file_sha256
from workflow_helpers import edited_config, planned_jobs, snakemake, tiny_config, tiny_student

pytestmark = pytest.mark.slow

FROZEN = Path("results/frozen/tiny/multiway.parquet")
MODELS = ["results/models/multiway", "results/models/negatives"]


def runs() -> dict:
    return {
        "multiway": {"student": "tiny", "data": "multiway", "objective": "infonce"},
        "negatives": {
            "student": "tiny", "data": "multiway", "objective": "infonce",
            "denominator": "negatives",
        },
        "enx": {"student": "tiny", "data": "enx", "objective": "infonce", "drift_weight": 0},
    }  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    student = tiny_student(tmp_path_factory.mktemp("models") / "tiny")
    workdir = tmp_path_factory.mktemp("drift")
    tiny_config(
        workdir, student, train={"steps": 2, "batch_ids": 8, "drift_weight": 0.5}, runs=runs()
    )
    assert planned_jobs(workdir, *MODELS).get("frozen") == 1
    assert planned_jobs(workdir).get("frozen") == 1  # the En-X run (weight 0) needs none
    snakemake(workdir, *MODELS)
    return workdir


def test_two_runs_of_one_student_share_one_frozen_file(trained):
    assert (trained / FROZEN).is_file()
    assert len(list((trained / "logs/frozen").rglob("*.log"))) == 1
    digest = file_sha256(trained / FROZEN)
    for model in MODELS:
        record = json.loads((trained / model / "mwalign_run.json").read_text())
        assert record["provenance"]["inputs"]["frozen"] == digest
        assert record["loss"]["drift_weight"] == 0.5
    negatives = json.loads((trained / MODELS[1] / "mwalign_run.json").read_text())
    assert negatives["loss"]["denominator"] == "negatives"


def test_rerun_reads_the_frozen_file_never_recomputes_it(trained):
    assert planned_jobs(trained, *MODELS) == {}
    with edited_config(trained, lambda c: c["train"].update(drift_weight=0.25)):
        jobs = planned_jobs(trained, *MODELS)
    assert jobs.get("train") == 2 and "frozen" not in jobs


def test_weight_zero_plans_no_frozen_job(trained):
    def off(config):
        config["train"]["drift_weight"] = 0

    with edited_config(trained, off):
        jobs = planned_jobs(trained, "--forceall")
    assert "frozen" not in jobs and jobs["train"] == 3
