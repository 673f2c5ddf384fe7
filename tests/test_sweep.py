"""Sweeps chosen on dev: point jobs and their names, the config's checks, the choice of a
point from the dev metrics its runs recorded, and that the choice never reads test data."""

from __future__ import annotations

import json
import os

import pytest
from mwalign.config import validate_config
from mwalign.errors import ConfigError
from mwalign.jobs import eval_models, sweep_points, swept_models, train_jobs, trained_models
from mwalign.paths import RUN_INFO_FILE, SWEEP_INFO_FILE
from mwalign.plan import job_table
from mwalign.train.params import train_params
from mwalign.train.sweep import choose_point, select_point, selection_params
from test_train_fixtures import train_raw


def swept_config(grid: dict, seeds=(0,), **train) -> dict:
    raw = train_raw(eval_every=1, **train)
    raw["runs"]["multiway"].update(sweep=grid, seeds=list(seeds))
    return validate_config(raw)


def test_each_point_is_a_train_job_named_from_its_settings():
    config = swept_config({"temperature": [0.05, 0.1], "learning_rate": [2e-5]})
    points = [
        "multiway+temperature=0.05+learning_rate=2e-05",
        "multiway+temperature=0.1+learning_rate=2e-05",
    ]
    assert train_jobs(config) == [*points, "enx"]
    assert trained_models(config) == ["multiway", "enx"]  # what is evaluated
    assert list(eval_models(config)) == ["base-tiny", "multiway", "enx"]
    assert swept_models(config) == {"multiway": points}
    params = train_params(config, points[1])
    assert params["train"]["temperature"] == 0.1 and params["train"]["learning_rate"] == 2e-5
    assert params["sweep_point"] == {"temperature": 0.1, "learning_rate": 2e-5}
    assert params["run"] == "multiway" and params["job"] == points[1]


def test_seeds_of_a_swept_run_each_train_every_point():
    config = swept_config({"temperature": [0.05, 0.1]}, seeds=(1, 2))
    assert train_jobs(config)[:4] == [
        "multiway+temperature=0.05-seed1", "multiway+temperature=0.05-seed2",
        "multiway+temperature=0.1-seed1", "multiway+temperature=0.1-seed2",
    ]  # fmt: skip
    params = selection_params(config, "multiway-seed2")
    assert params["replicate"] == 2 and params["dev_metric"] == "accuracy"
    assert params["points"]["multiway+temperature=0.1"] == {
        "settings": {"temperature": 0.1},
        "jobs": {"1": "multiway+temperature=0.1-seed1", "2": "multiway+temperature=0.1-seed2"},
    }


def test_a_larger_grid_keeps_every_old_point_and_its_params():
    small = swept_config({"temperature": [0.05, 0.1]})
    large = swept_config({"temperature": [0.05, 0.1, 0.2]})
    old = sweep_points(small, "multiway")
    assert list(sweep_points(large, "multiway"))[:2] == list(old)
    for job in old:  # the same params: Snakemake retrains none of them
        assert train_params(large, job) == train_params(small, job)
    assert set(train_jobs(large)) - set(train_jobs(small)) == {"multiway+temperature=0.2"}


def test_the_plan_shows_the_grid_and_the_choice():
    rows = job_table(swept_config({"temperature": [0.05, 0.1]}))
    train = [row for row in rows if row["stage"] == "train"]
    assert [row.get("sweep_point") for row in train] == [
        {"temperature": 0.05}, {"temperature": 0.1}, None,
    ]  # fmt: skip
    assert {"stage": "select", "job": "multiway", "chosen_on": "dev", "among": 2} in rows


def test_a_grid_written_two_ways_is_one_grid():
    """Values are stored as their keys' types write them, as a run's own values are: the
    same grid names the same jobs with the same params, however its numbers are written."""
    as_written = swept_config({"drift_weight": [0, 1], "steps": [3.0, 4]})
    as_declared = swept_config({"drift_weight": [0.0, 1.0], "steps": [3, 4]})
    jobs = train_jobs(as_written)
    assert jobs == train_jobs(as_declared)
    assert jobs[0] == "multiway+drift_weight=0.0+steps=3"
    for job in jobs:
        text = [json.dumps(train_params(c, job), sort_keys=True) for c in (as_written, as_declared)]
        assert text[0] == text[1]


@pytest.mark.parametrize(
    ("grid", "train", "message"),
    [
        (
            {"temperature": [0.1]},
            {"eval_every": 0},
            r"sweep chooses its point on dev, but eval_every is 0",
        ),
        (
            {"objective": ["soft"]},
            {},
            r"sweep.objective: not a train setting; allowed: \['batch_ids'",
        ),
        ({"dev_metric": ["loss"]}, {}, r"sweep.dev_metric: not a train setting"),
        (
            {"temperature": [0.1, -1]},
            {},
            r"point 'multiway\+temperature=-1' is not a valid run: .*temperature: -1",
        ),
        ({"temperature": []}, {}, r"sweep.temperature: \[\] should be non-empty"),
        ({"temperature": [0.1, 0.1]}, {}, r"more than once"),
        (
            {"temperature": [0.1, 0.2]},
            {"dev_metric": "loss"},
            r"varies \['temperature'\], which change the objective",
        ),
    ],
)
def test_sweep_mistakes_are_config_errors(grid, train, message):
    raw = train_raw(**{"eval_every": 1, **train})
    raw["runs"]["multiway"]["sweep"] = grid
    with pytest.raises(ConfigError, match=message):
        validate_config(raw)


def test_a_learning_rate_sweep_may_choose_on_the_dev_loss():
    config = swept_config({"learning_rate": [1e-4, 1e-3]}, dev_metric="loss")
    assert selection_params(config, "multiway")["dev_metric"] == "loss"


# ---------------------------------------------------------------- the choice


def _point_models(models_dir, metrics: dict[str, float]) -> None:
    """A model folder per job whose run record holds ``metrics[job]`` as its best on dev."""
    for job, value in metrics.items():
        folder = models_dir / job
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_text(f"weights of {job}")
        record = {"result": {"stopped": {"best_metric": value, "dev_metric": "eval_dev_accuracy"}}}
        (folder / RUN_INFO_FILE).write_text(json.dumps(record))


def test_the_point_with_the_best_mean_over_seeds_is_chosen(tmp_path, monkeypatch):
    config = swept_config({"temperature": [0.05, 0.1]}, seeds=(1, 2))
    models = tmp_path / "results" / "models"
    # seed 1 alone would choose 0.05; the mean over seeds chooses 0.1 (0.6 > 0.55)
    _point_models(
        models,
        {
            "multiway+temperature=0.05-seed1": 0.7, "multiway+temperature=0.05-seed2": 0.4,
            "multiway+temperature=0.1-seed1": 0.5, "multiway+temperature=0.1-seed2": 0.7,
        },
    )  # fmt: skip
    # the evaluation's data and results are garbage and reading the Bible fails: unused
    evaluation = tmp_path / "results" / "eval" / "multiway+temperature=0.05-seed1"
    evaluation.mkdir(parents=True)
    (evaluation / "BibleBitextMining.json").write_text("{not json")
    import mwalign.bible

    monkeypatch.setattr(mwalign.bible, "bible_db_path", lambda: pytest.fail("read test data"))
    out = models / "multiway-seed1"
    record = select_point(selection_params(config, "multiway-seed1"), models, out)
    assert record["chosen"] == "multiway+temperature=0.1" and record["chosen_on"] == "dev"
    assert record["job"] == "multiway+temperature=0.1-seed1"  # this seed's model of the point
    assert (out / "model.safetensors").read_text() == "weights of multiway+temperature=0.1-seed1"
    assert json.loads((out / SWEEP_INFO_FILE).read_text()) == record
    assert [p["mean"] for p in record["points"]] == pytest.approx([0.55, 0.6])
    source = models / "multiway+temperature=0.1-seed1" / "model.safetensors"
    assert os.path.samefile(out / "model.safetensors", source)  # hard links: no copy


def test_the_dev_loss_chooses_the_lowest_and_a_tie_the_first_point():
    scores = [{"point": "a", "mean": 0.3}, {"point": "b", "mean": 0.2}, {"point": "c", "mean": 0.2}]
    assert choose_point(scores, "loss")["point"] == "b"
    assert choose_point(scores, "accuracy")["point"] == "a"
    tied = [{"point": "a", "mean": 0.5}, {"point": "b", "mean": 0.5}]
    assert choose_point(tied, "accuracy")["point"] == "a"


def test_a_point_without_a_dev_metric_is_an_error(tmp_path):
    config = swept_config({"temperature": [0.05, 0.1]})
    models = tmp_path / "models"
    _point_models(models, {"multiway+temperature=0.05": 0.5, "multiway+temperature=0.1": None})
    with pytest.raises(ValueError, match=r"multiway\+temperature=0.1: no dev metric recorded"):
        select_point(selection_params(config, "multiway"), models, models / "multiway")


# ---------------------------------------------------------------- the report


def test_the_report_names_the_chosen_point_and_where_runs_stopped(tmp_path):
    from mwalign.report.plots import loss_plot
    from mwalign.report.training import training_section

    swept, plain = tmp_path / "multiway", tmp_path / "enx"
    for folder, stopped in (
        (swept, {"reason": "patience", "step": 8, "best_step": 4, "best_metric": 0.5,
                 "dev_metric": "eval_dev_accuracy", "model": "best"}),
        (plain, {"reason": "steps", "step": 3, "model": "last"}),
    ):  # fmt: skip
        folder.mkdir()
        (folder / RUN_INFO_FILE).write_text(json.dumps({"result": {"stopped": stopped}}))
        (folder / "loss_curve.csv").write_text("step,epoch,loss\n1,0.1,2.0\n2,0.2,1.5\n")
    (swept / "dev_curve.csv").write_text("step,epoch,dev_loss,dev_accuracy\n2,0.2,1.8,0.4\n")
    sweep = {
        "chosen": "multiway+temperature=0.1", "settings": {"temperature": 0.1},
        "dev_metric": "eval_dev_accuracy", "greater_is_better": True,
        "points": [
            {"point": "multiway+temperature=0.05", "settings": {"temperature": 0.05},
             "dev": {"0": 0.4}, "mean": 0.4},
            {"point": "multiway+temperature=0.1", "settings": {"temperature": 0.1},
             "dev": {"0": 0.5}, "mean": 0.5},
        ],
    }  # fmt: skip
    (swept / SWEEP_INFO_FILE).write_text(json.dumps(sweep))
    text = training_section({"multiway": swept, "enx": plain})
    assert "| multiway | 8 | patience | step 4: eval_dev_accuracy 0.5000 | best |" in text
    assert "| enx | 3 | steps | – | last |" in text
    assert "chosen on dev: `multiway+temperature=0.1` (temperature 0.1)" in text
    assert "| multiway+temperature=0.1 (chosen) | temperature 0.1 | 0.5000 | 0.5000 |" in text
    assert training_section({}) == ""
    curves = {name: tmp_path / name / "loss_curve.csv" for name in ("multiway", "enx")}
    dev_curves = {name: path.with_name("dev_curve.csv") for name, path in curves.items()}
    figure = loss_plot(curves, tmp_path / "loss-curves.png", dev_curves=dev_curves)
    assert figure is not None and figure.exists()
