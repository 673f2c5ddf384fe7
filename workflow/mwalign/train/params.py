"""The train stage's params: exactly the config slice each train job depends on.

``train`` holds hyperparameters shared by every run; each entry of ``runs`` names a
student, a data mode and an objective and may override any ``train`` key. Every key,
with its default, allowed values and bounds, is declared in
mwalign/schemas/train.schema.yaml. Job names come from :mod:`mwalign.jobs`. Every job's
seed is derived from the experiment seed and the replicate index only, so runs that
differ in data or objective share steps, batch size and seed by default.

:func:`train_params` is what the train rule passes (and what ``mwalign_run.json``
records); :func:`batch_size`, :func:`dataset_name` and :func:`teacher_labels_per_view`
read a job's params.
"""

from __future__ import annotations

import copy
from typing import Any

from mwalign.jobs import resolve_train_job
from mwalign.provenance import derive_seed

# Objectives whose loss reads the teacher's embeddings (their jobs depend on the teacher).
TEACHER_OBJECTIVES = ("soft", "similarity_mse", "embedding_mse")
# Keys of a run that are not training settings (those override the `train` block).
RUN_KEYS = ("student", "data", "objective", "seeds", "sweep")


def run_settings(
    config: dict[str, Any], run: str, point: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A run's training settings: the (filled) ``train`` block updated by the run's keys,
    then by a sweep ``point``'s (:func:`mwalign.jobs.sweep_points`).

    ``train.report_to`` is left out: it names where a run logs, not how it trains, so
    changing it never retrains a model (the train script reads it from the config).
    ``steps`` is None when the run trains for ``epochs``: it is not used then, so
    changing it retrains nothing.
    """
    settings = copy.deepcopy(config["train"])
    settings.pop("report_to", None)
    settings.update({k: v for k, v in config["runs"][run].items() if k not in RUN_KEYS})
    settings.update(copy.deepcopy(point or {}))
    if settings.get("epochs") is not None:
        settings["steps"] = None
    return settings


def train_params(config: dict[str, Any], job: str) -> dict[str, Any]:
    """Exactly the config slice one train job depends on, fully resolved.

    ``job`` is a run name, or ``{run}-seed{k}`` for a run with several seeds, or a sweep
    point's job (see :func:`mwalign.jobs.train_jobs`). The teacher appears only for
    objectives that read it, so changing the teacher reruns only those jobs. Keys: ``job``, ``run``,
    ``replicate``, ``seed``, ``rows_seed``, ``student`` (its name and settings), ``data``,
    ``objective``, ``languages``, ``teacher`` (model and languages, or None) and ``train``
    (:func:`run_settings`), and for a sweep point's job ``sweep_point`` (its settings).
    """
    run_name, replicate, point = resolve_train_job(config, job)
    run = config["runs"][run_name]
    teacher = None
    if run["objective"] in TEACHER_OBJECTIVES:
        teacher = {
            "model": config["teacher"]["model"],
            "languages": list(config["teacher"]["languages"]),
        }
    return copy.deepcopy(
        {
            "job": job,
            "run": run_name,
            "replicate": replicate,
            "seed": derive_seed(config["seed"], "train", replicate),
            # orders the train rows for `train_rows`: the same for every run and seed
            "rows_seed": derive_seed(config["seed"], "train_rows"),
            "student": {"name": run["student"], **config["students"][run["student"]]},
            "data": run["data"],
            "objective": run["objective"],
            "languages": list(config["languages"]),
            "teacher": teacher,
            "train": run_settings(config, run_name, point),
            **({"sweep_point": point} if point else {}),
        }
    )


def dataset_name(params: dict[str, Any]) -> str:
    """The dataset file a train job reads: ``multiway``, or ``enx`` (drawn in assemble).

    An En-X job with ``enx_targets: per_seed`` reads the multi-way table and draws each
    row's target itself, with its own seed.
    """
    if params["data"] == "enx" and params["train"]["enx_targets"] == "dataset":
        return "enx"
    return "multiway"


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
