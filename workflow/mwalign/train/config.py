"""The train stage's cross-field checks of the config.

``train`` holds hyperparameters shared by every run; each entry of ``runs`` names a
student, a data mode and an objective and may override any ``train`` key. Every key,
with its default, allowed values and bounds, is declared in
mwalign/schemas/train.schema.yaml; job names and each job's settings come from
:mod:`mwalign.plan`. Every job's seed is derived from the experiment seed and the
replicate index only, so runs that differ in data or objective share steps, batch size
and seed by default.
"""

from __future__ import annotations

from typing import Any

from mwalign.plan import train_jobs, train_params

# The package each experiment tracker of `train.report_to` needs, where it has another name.
TRACKER_PACKAGES = {"azure_ml": "azureml"}


def _check_trackers(trackers: list[str]) -> None:
    """Each tracker of config.train.report_to needs its package installed: no job fails later."""
    import importlib.util

    for tracker in trackers:
        package = TRACKER_PACKAGES.get(tracker, tracker)
        if importlib.util.find_spec(package) is None:
            raise ValueError(
                f"config.train.report_to lists {tracker!r}, but its package {package!r} is not "
                f"installed; install it (pip install {package}) or remove it from the list"
            )


def teacher_labels_per_view(params: dict[str, Any]) -> bool:
    """Whether a job's labels hold the teacher embedding of every view, not English only.

    ``average`` reads both sides of every pair; ``pair_priority`` reads the pair's
    higher-priority side, which on En-X data is always English.
    """
    strategy = params["train"]["label_strategy"]
    return params["objective"] in ("soft", "similarity_mse") and (
        strategy == "average" or (strategy == "pair_priority" and params["data"] == "multiway")
    )


def batch_size(params: dict[str, Any]) -> int:
    """Rows per step: ``batch_ids``; En-X with ``enx_equal_sentences`` takes enough ids to
    encode as many sentences per step as multi-way (batch_ids * (L + 1) / 2)."""
    hyper = params["train"]
    if params["data"] == "enx" and hyper["enx_equal_sentences"]:
        return hyper["batch_ids"] * (len(params["languages"]) + 1) // 2
    return hyper["batch_ids"]


def _check_job(config: dict[str, Any], job: str) -> None:
    params = train_params(config, job)
    where = f"config.runs.{params['run']}"
    if teacher_labels_per_view(params):
        missing = sorted(set(params["languages"]) - set(config["teacher"]["languages"]))
        if missing:
            raise ValueError(
                f"{where}: label_strategy {params['train']['label_strategy']!r} needs teacher "
                f"embeddings of every language, but teacher.languages lacks {missing}; add "
                "them or use 'priority'"
            )
    rows = params["train"]["train_rows"]
    if rows is not None and rows < batch_size(params):
        raise ValueError(
            f"{where}.train_rows = {rows}: fewer than the {batch_size(params)} rows of one "
            "batch; raise train_rows or lower batch_ids"
        )


def check_train_config(config: dict[str, Any]) -> None:
    """Raise ValueError naming the bad value and what is allowed (students, runs, job names)."""
    if not config["students"]:
        raise ValueError("config.students must name at least one student (name: {model: ...})")
    if not config["runs"]:
        raise ValueError(
            "config.runs must name at least one run (name: {student, data, objective})"
        )
    for name, run in config["runs"].items():
        if run["student"] not in config["students"]:
            known = sorted(config["students"])
            raise ValueError(
                f"config.runs.{name}.student = {run['student']!r}: known students: {known}"
            )
    _check_trackers(config["train"]["report_to"])
    jobs = train_jobs(config)
    clashes = sorted({job for job in jobs if jobs.count(job) > 1})
    if clashes:
        raise ValueError(f"config.runs: train job names {clashes} occur twice; rename a run")
    for job in jobs:
        _check_job(config, job)
