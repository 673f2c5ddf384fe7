"""Names of an experiment's jobs: the one place each is made.

- trained models: a run's name, or ``{run}-seed{k}`` for a run with several seeds;
- train jobs: the trained models of runs without a ``sweep``; a swept run's model is
  chosen on dev among its points' jobs, ``{run}+key=value+...`` (and ``-seed{k}``), one
  per point of its grid (:func:`sweep_points`);
- evaluated models: ``base-{student}`` for each student before training, then every
  trained model (one namespace: each name is one folder under ``results/eval/``);
- translation shards: ``0 .. n-1`` for every language;
- frozen embeddings: ``{student}/{dataset}`` for each (student, dataset) that a train job
  with ``drift_weight > 0`` reads (none by default; listed by
  :func:`mwalign.frozen.frozen_jobs`).

The workflow's wildcards take these values (:func:`mwalign.plan.make_plan`); each
stage's params function (``mwalign.<stage>.params``) resolves a job by its name here.

Example, for ``runs: {multiway: {seeds: [1, 2]}}`` and one student ``e5``::

    train_jobs(config)   # ["multiway-seed1", "multiway-seed2"]
    eval_models(config)  # {"base-e5": "e5", "multiway-seed1": "e5", "multiway-seed2": "e5"}
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from mwalign.paths import BASE_PREFIX
from mwalign.translate.params import shard_count


def _job_names(name: str, seeds: list[int]) -> dict[str, int]:
    """Train job name -> replicate index of one run: its name, or ``{run}-seed{k}`` each."""
    if len(seeds) == 1:
        return {name: seeds[0]}
    return {f"{name}-seed{seed}": seed for seed in seeds}


# Separates a swept run's name from each of its point's settings in the point's job name.
POINT_SEPARATOR = "+"


def point_value(value: Any) -> str:
    """A sweep value as it appears in a job name: its JSON text (0.05, 5e-05, true)."""
    return json.dumps(value)


def sweep_points(config: dict[str, Any], run: str) -> dict[str, dict[str, Any]]:
    """Point name -> settings of each point of a run's ``sweep`` grid (empty without one).

    A point is named ``{run}+key=value+...`` with the keys in the order the sweep gives
    them, so a point keeps its name (and its cached model) when values are added.
    """
    grid = config["runs"][run].get("sweep")
    if not grid:
        return {}
    points = {}
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values, strict=True))
        parts = [f"{key}={point_value(value)}" for key, value in point.items()]
        points[POINT_SEPARATOR.join([run, *parts])] = point
    return points


def model_table(config: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(model, run, replicate) of every trained model that is evaluated, in config order."""
    return [
        (job, name, seed)
        for name, run in config["runs"].items()
        for job, seed in _job_names(name, run["seeds"]).items()
    ]


def train_table(config: dict[str, Any]) -> list[tuple[str, str, int, dict[str, Any]]]:
    """(job, run, replicate, sweep point settings) of every train job, in config order."""
    table = []
    for name, run in config["runs"].items():
        points = sweep_points(config, name) or {name: {}}
        for point, settings in points.items():
            for job, seed in _job_names(point, run["seeds"]).items():
                table.append((job, name, seed, settings))
    return table


def train_jobs(config: dict[str, Any]) -> list[str]:
    """One name per train job: a run's (or each of its sweep points') name, or that name
    with ``-seed{k}`` for runs with several seeds."""
    return [job for job, _, _, _ in train_table(config)]


def trained_models(config: dict[str, Any]) -> list[str]:
    """One name per trained model evaluated: the run name, or ``{run}-seed{k}``."""
    return [job for job, _, _ in model_table(config)]


def swept_models(config: dict[str, Any]) -> dict[str, list[str]]:
    """Trained model of each swept run (and seed) -> the train jobs it is chosen among:
    every point of the run's grid, all seeds (a point is chosen on its mean over seeds)."""
    swept = {}
    for model, run, _ in model_table(config):
        if sweep_points(config, run):
            swept[model] = [job for job, name, _, _ in train_table(config) if name == run]
    return swept


def resolve_train_job(config: dict[str, Any], job: str) -> tuple[str, int, dict[str, Any]]:
    """(run, replicate, sweep point settings) of the train job or trained model named
    ``job`` (a swept run's model resolves to the run's settings without a point);
    ValueError names the known jobs."""
    for name, run, seed, point in train_table(config):
        if name == job:
            return run, seed, point
    for name, run, seed in model_table(config):
        if name == job:
            return run, seed, {}
    raise ValueError(f"unknown train job {job!r}; known: {train_jobs(config)}")


def base_models(config: dict[str, Any]) -> dict[str, str]:
    """Evaluated model name of each student before training (``base-{student}``) -> student."""
    return {f"{BASE_PREFIX}{name}": name for name in config["students"]}


def eval_models(config: dict[str, Any]) -> dict[str, str]:
    """Every evaluated model (base students, then train jobs) -> its student's name."""
    models = base_models(config)
    models.update({job: config["runs"][run]["student"] for job, run, _ in model_table(config)})
    return models


def model_name_sources(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(evaluated model name, the config entry that makes it) of every evaluated model.

    Base students (``base-{student}``) and train jobs share one namespace (their result
    folders), so a name that occurs twice here is a config mistake.
    """
    names = [(base, f"config.students.{name}") for base, name in base_models(config).items()]
    names += [(job, f"config.runs.{run}") for job, run, _ in model_table(config)]
    return names


def model_student(config: dict[str, Any], model: str) -> str:
    """Student name of an evaluated model: ``base-{student}``, a run, or ``{run}-seed{k}``."""
    models = eval_models(config)
    if model not in models:
        raise ValueError(
            f"unknown model {model!r} to evaluate; known: {list(models)} "
            "(runs may end in -seed{k})"
        )
    return models[model]


def shards(config: dict[str, Any]) -> list[int]:
    """Translation shard indices of the corpus (the same for every language)."""
    return list(range(shard_count(config["corpus"]["size"], config["translate"]["shard_size"])))


def frozen_job(student: str, dataset: str) -> str:
    """The frozen-embeddings job of a student on a dataset: ``{student}/{dataset}``."""
    return f"{student}/{dataset}"
