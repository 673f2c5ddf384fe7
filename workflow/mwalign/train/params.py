"""The train stage's params: exactly the config slice each train job depends on.

``train`` holds hyperparameters shared by every run; each entry of ``runs`` names a
student, a data mode and an objective and may override any ``train`` key. Every key,
with its default, allowed values and bounds, is declared in
mwalign/schemas/train.schema.yaml. Job names come from :mod:`mwalign.jobs`. Every job's
seed is derived from the experiment seed and the replicate index only, so runs that
differ in data or objective share steps, batch size and seed by default.

:func:`train_params` is what the train rule passes (and what ``mwalign_run.json``
records); :func:`derived_budget` (steps, rows per step and pairs from ``train.match``),
:func:`batch_size`, :func:`dataset_name` and :func:`teacher_labels_per_view` read a
job's params.
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
    objectives that read it, so changing the teacher reruns only those jobs. Keys:
    ``job``, ``run``, ``replicate``, ``seed``, ``rows_seed``, ``row_languages_seed``,
    ``student`` (its name and settings), ``data``, ``objective``, ``languages``,
    ``teacher`` (model and languages, or None) and ``train`` (:func:`run_settings`), and
    for a sweep point's job ``sweep_point`` (its settings).
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
            # draws each k-language row's languages: the same for every run and seed
            "row_languages_seed": derive_seed(config["seed"], "row_languages"),
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


def row_languages(params: dict[str, Any]) -> int:
    """k, the languages per multi-way row of a job's design: ``train.row_languages``, or
    every language (English plus ``languages``) when it is null."""
    k = params["train"]["row_languages"]
    return len(params["languages"]) + 1 if k is None else k


def k_language_rows(params: dict[str, Any]) -> bool:
    """Whether a job trains on multi-way rows of fewer than every language."""
    k = params["train"]["row_languages"]
    return params["data"] == "multiway" and k is not None and k < len(params["languages"]) + 1


def derived_budget(params: dict[str, Any]) -> dict[str, int | None]:
    """A job's optimiser steps, rows per micro-batch and pairs, from ``train.match``.

    A k-language row gives C(k, 2) (unordered) training pairs, an En-X row one (with
    ``pairs: english``, a multi-way row gives the k - 1 pairs with English; with
    ``row_english: any`` that is an upper bound, as rows without English give none). Multi-way
    jobs take ``steps`` and ``batch_ids`` as given. En-X jobs match the multi-way design
    of the same settings (k = :func:`row_languages`) on
    ``ids``: the same steps and batch_ids; ``sentences``: batch_ids * k // 2 rows per
    micro-batch, so both encode as many sentences per step; ``pairs``: steps * C(k, 2)
    steps of batch_ids rows, so the pair budgets are equal (the paper's protocol), on
    train_rows * C(k, 2) rows when ``train_rows`` is set: the paper's N/6 four-language
    rows against N bilingual rows, so both see each row about as often (the train split
    caps it: :func:`mwalign.train.data.read_train_rows`).

    A run trained for ``epochs`` has no fixed steps (``steps`` and ``pair_budget`` are
    None): its steps follow from its rows, so matching on pairs is then the rows'
    C(k, 2) factor alone, at the same epochs.

    Returns ``steps``, ``batch_rows`` (rows per micro-batch), ``train_rows`` (rows of the
    train split the job reads; None: all), ``pairs_per_row``, ``pairs_per_step`` (with
    gradient accumulation) and ``pair_budget`` (pairs of the run).
    """
    hyper = params["train"]
    k = row_languages(params)
    group_pairs = k * (k - 1) // 2
    steps, rows, train_rows = hyper["steps"], hyper["batch_ids"], hyper["train_rows"]
    by_epochs = hyper.get("epochs") is not None  # steps follow from the rows: None here
    if params["data"] == "multiway":
        # pairs: english scores only the k - 1 pairs with English (rows holding English)
        pairs_per_row = k - 1 if hyper["pairs"] == "english" else group_pairs
    else:
        pairs_per_row = 1
        if hyper["match"] == "sentences":
            rows = hyper["batch_ids"] * k // 2
        elif hyper["match"] == "pairs":
            if not by_epochs:
                steps = hyper["steps"] * group_pairs
            if train_rows is not None:
                train_rows *= group_pairs
    pairs_per_step = rows * hyper["gradient_accumulation"] * pairs_per_row
    return {
        "steps": steps,
        "batch_rows": rows,
        "train_rows": train_rows,
        "pairs_per_row": pairs_per_row,
        "pairs_per_step": pairs_per_step,
        "pair_budget": None if by_epochs else steps * pairs_per_step,
    }


def batch_size(params: dict[str, Any]) -> int:
    """Rows per micro-batch (:func:`derived_budget`): ``batch_ids``, or for En-X with
    ``match: sentences`` batch_ids * k / 2."""
    return derived_budget(params)["batch_rows"]
