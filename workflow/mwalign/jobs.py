"""Names of an experiment's jobs: the one place each is made.

- train jobs: a run's name, or ``{run}-seed{k}`` for a run with several seeds;
- evaluated models: ``base-{student}`` for each student before training, then every
  train job (one namespace: each name is one folder under ``results/eval/``);
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

from typing import Any

from mwalign.paths import BASE_PREFIX
from mwalign.translate.params import shard_count


def _job_names(name: str, seeds: list[int]) -> dict[str, int]:
    """Train job name -> replicate index of one run: its name, or ``{run}-seed{k}`` each."""
    if len(seeds) == 1:
        return {name: seeds[0]}
    return {f"{name}-seed{seed}": seed for seed in seeds}


def train_table(config: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(job, run, replicate) of every train job, in config order."""
    return [
        (job, name, seed)
        for name, run in config["runs"].items()
        for job, seed in _job_names(name, run["seeds"]).items()
    ]


def train_jobs(config: dict[str, Any]) -> list[str]:
    """One name per train job: the run name, or ``{run}-seed{k}`` for runs with several seeds."""
    return [job for job, _, _ in train_table(config)]


def resolve_train_job(config: dict[str, Any], job: str) -> tuple[str, int]:
    """(run, replicate) of the train job named ``job``; ValueError names the known jobs."""
    for name, run, seed in train_table(config):
        if name == job:
            return run, seed
    raise ValueError(f"unknown train job {job!r}; known: {train_jobs(config)}")


def base_models(config: dict[str, Any]) -> dict[str, str]:
    """Evaluated model name of each student before training (``base-{student}``) -> student."""
    return {f"{BASE_PREFIX}{name}": name for name in config["students"]}


def eval_models(config: dict[str, Any]) -> dict[str, str]:
    """Every evaluated model (base students, then train jobs) -> its student's name."""
    models = base_models(config)
    models.update({job: config["runs"][run]["student"] for job, run, _ in train_table(config)})
    return models


def model_name_sources(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(evaluated model name, the config entry that makes it) of every evaluated model.

    Base students (``base-{student}``) and train jobs share one namespace (their result
    folders), so a name that occurs twice here is a config mistake.
    """
    names = [(base, f"config.students.{name}") for base, name in base_models(config).items()]
    names += [(job, f"config.runs.{run}") for job, run, _ in train_table(config)]
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
