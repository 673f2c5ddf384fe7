"""Sweeps chosen on dev: a run's ``sweep`` grid trains one job per point (and seed), each
its own cached model (:func:`mwalign.jobs.sweep_points` names them); rule ``select``
(workflow/rules/train.smk) then picks the point with the best dev metric and makes its
model the run's, ``results/models/{run}``, which alone is evaluated and compared.

The choice reads each point's ``mwalign_run.json``, ``result.stopped.best_metric``: the
best value of ``train.dev_metric`` over the point's evaluations on the dataset's dev
split (:mod:`mwalign.train.dev`). A point's value is its mean over the run's seeds, so
every seed's model comes from the same point; a tie goes to the point given first.
Nothing of the evaluation (test) data is read: the rule's inputs are the point models.

Example, ``runs: {multiway: {sweep: {temperature: [0.05, 0.1]}}}``: train jobs
``multiway+temperature=0.05`` and ``multiway+temperature=0.1``; ``select`` copies the
better one on dev to ``results/models/multiway`` with ``mwalign_sweep.json`` beside it.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from mwalign import files
from mwalign.jobs import resolve_train_job, sweep_points, swept_models, train_table
from mwalign.paths import RUN_INFO_FILE, SWEEP_INFO_FILE

log = logging.getLogger(__name__)

SWEEP_FILE = SWEEP_INFO_FILE
# train.dev_metric -> the Trainer's (and run record's) metric name, and whether greater is better
DEV_METRICS = {"accuracy": ("eval_dev_accuracy", True), "loss": ("eval_loss", False)}


def selection_params(config: dict[str, Any], model: str) -> dict[str, Any]:
    """What rule ``select`` of a swept run's model depends on: its points (settings and
    the train job of each seed) and the metric that chooses."""
    if model not in swept_models(config):
        raise ValueError(
            f"{model!r} is not a swept run's model; swept: {list(swept_models(config))}"
        )
    run, replicate, _ = resolve_train_job(config, model)
    points: dict[str, dict[str, Any]] = {
        name: {"settings": settings, "jobs": {}}
        for name, settings in sweep_points(config, run).items()
    }
    for job, name, seed, settings in train_table(config):
        if name == run:
            point = next(p for p, info in points.items() if info["settings"] == settings)
            points[point]["jobs"][str(seed)] = job
    dev_metric = {**config["train"], **config["runs"][run]}["dev_metric"]
    return {
        "model": model,
        "run": run,
        "replicate": replicate,
        "dev_metric": dev_metric,
        "points": points,
    }


def point_scores(params: dict[str, Any], models_dir: Path) -> list[dict[str, Any]]:
    """Each point's best dev metric per seed (from its models' run records) and mean."""
    scores = []
    for point, info in params["points"].items():
        per_seed = {}
        for seed, job in info["jobs"].items():
            stopped = files.read_json(Path(models_dir) / job / RUN_INFO_FILE)["result"]["stopped"]
            if stopped.get("best_metric") is None:
                raise ValueError(f"{job}: no dev metric recorded; its run needs eval_every >= 1")
            per_seed[seed] = stopped["best_metric"]
        mean = sum(per_seed.values()) / len(per_seed)
        scores.append({"point": point, "settings": info["settings"], "dev": per_seed, "mean": mean})
    return scores


def choose_point(scores: list[dict[str, Any]], dev_metric: str) -> dict[str, Any]:
    """The point with the best mean dev metric; the first given wins a tie."""
    greater = DEV_METRICS[dev_metric][1]
    best = scores[0]
    for score in scores[1:]:
        if (score["mean"] > best["mean"]) if greater else (score["mean"] < best["mean"]):
            best = score
    return best


def link_tree(source: Path, target: Path) -> None:
    """Copy a model folder by hard links where the file system allows, else by copies."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)


def select_point(params: dict[str, Any], models_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Choose the swept run's point on dev and make its model (for this model's seed)
    ``out_dir``, with ``mwalign_sweep.json``: every point's dev metric and the choice."""
    scores = point_scores(params, models_dir)
    chosen = choose_point(scores, params["dev_metric"])
    job = params["points"][chosen["point"]]["jobs"][str(params["replicate"])]
    record = {
        "model": params["model"],
        "run": params["run"],
        "chosen": chosen["point"],
        "settings": chosen["settings"],
        "job": job,
        "chosen_on": "dev",
        "dev_metric": DEV_METRICS[params["dev_metric"]][0],
        "greater_is_better": DEV_METRICS[params["dev_metric"]][1],
        "points": scores,
    }
    out_dir = Path(out_dir)
    tmp = out_dir.parent / f".{out_dir.name}.selecting"
    if tmp.exists():
        shutil.rmtree(tmp)
    link_tree(Path(models_dir) / job, tmp)
    files.write_json(record, tmp / SWEEP_FILE)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    log.info(
        "%s: chose %s on dev (%s %.4f)", params["model"], chosen["point"], record["dev_metric"],
        chosen["mean"],
    )  # fmt: skip
    return record
