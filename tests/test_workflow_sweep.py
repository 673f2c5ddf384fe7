"""A swept run in the real workflow on a tiny config: every point trained and evaluated on
dev, the choice made on dev, only the chosen model evaluated, and a larger grid training
only its new point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from workflow_helpers import edited_config, planned_jobs, snakemake, tiny_config, tiny_student

pytestmark = pytest.mark.slow

POINTS = ["multiway+temperature=0.05", "multiway+temperature=0.1"]


@pytest.fixture(scope="module")
def swept_run(tmp_path_factory) -> Path:
    student = tiny_student(tmp_path_factory.mktemp("models") / "tiny")
    workdir = tmp_path_factory.mktemp("experiment")
    runs = {
        "multiway": {
            "student": "tiny",
            "data": "multiway",
            "objective": "infonce",
            "sweep": {"temperature": [0.05, 0.1]},
        },
        "enx": {"student": "tiny", "data": "enx", "objective": "infonce"},
    }
    train = {"steps": 4, "batch_ids": 8, "eval_every": 2, "patience": 1}
    tiny_config(workdir, student, runs=runs, train=train)
    assert planned_jobs(workdir)["train"] == 3  # snakemake -n plans the whole grid
    snakemake(workdir)
    return workdir


def test_each_point_is_trained_and_only_the_chosen_one_evaluated(swept_run):
    models = swept_run / "results" / "models"
    for point in POINTS:
        stopped = json.loads((models / point / "mwalign_run.json").read_text())["result"]["stopped"]
        assert stopped["dev_metric"] == "eval_dev_accuracy" and stopped["evaluations"] >= 1
        assert (models / point / "dev_curve.csv").exists()
    sweep = json.loads((models / "multiway" / "mwalign_sweep.json").read_text())
    assert sweep["chosen"] in POINTS and sweep["chosen_on"] == "dev"
    best = max(sweep["points"], key=lambda p: p["mean"])["mean"]
    assert next(p for p in sweep["points"] if p["point"] == sweep["chosen"])["mean"] == best
    evaluated = sorted(p.name for p in (swept_run / "results" / "eval").iterdir())
    assert [name for name in evaluated if not name.startswith(".")] == [
        "base-tiny",
        "enx",
        "multiway",
    ]
    summary = (swept_run / "results" / "report" / "summary.md").read_text()
    assert "## Training length and sweeps" in summary
    assert f"chosen on dev: `{sweep['chosen']}`" in summary


def test_a_larger_grid_trains_only_its_new_point(swept_run):
    def add_value(config):
        config["runs"]["multiway"]["sweep"]["temperature"] = [0.05, 0.1, 0.2]

    with edited_config(swept_run, add_value):
        jobs = planned_jobs(swept_run)
    # the new point, the choice among three, the chosen model's evaluation, the report
    assert jobs == {"train": 1, "select": 1, "evaluate": 1, "report": 1, "all": 1}


def test_rerun_does_nothing(swept_run):
    assert planned_jobs(swept_run) == {}
