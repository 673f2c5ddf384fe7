"""mteb result JSONs -> one long table (mwalign.tables.SCORES), one row per score.

A result file lies at ``results/eval/{model}/{task}.json``; what the model is (run,
student, data, objective, seed, training languages, resolved training settings, what it
saw in training) comes from ``model_meta``: per model either a dict or the model's
folder, whose ``mwalign_run.json`` (trained runs) describes it. Each row is tagged
``seen`` when every language of its subset is English or a training language of that
model; base students count the languages of the runs trained from them as seen, so
seen/unseen averages compare like with like.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from mwalign.evaluate.langcodes import config_code, pair_seen_tag
from mwalign.evaluate.params import OFFLINE_TASKS
from mwalign.files import read_json
from mwalign.paths import MODEL_INFO_FILE, RUN_INFO_FILE, SOURCE_LANGUAGE
from mwalign.tables import SCORES

# Keys of a job's train params that name the job (its seed among them), not how it trains.
JOB_KEYS = ("job", "run", "replicate", "seed")

log = logging.getLogger(__name__)

RUN_FILE = RUN_INFO_FILE
MODEL_FILE = MODEL_INFO_FILE
BASE = "base"
NOT_METRICS = {"hf_subset", "languages", "mteb_version", "scores_per_experiment"}


def describe_model(model: str, meta: dict | str | os.PathLike) -> dict[str, Any]:
    """One ``model_meta`` entry as run, student, data, objective, seed, languages,
    provenance, ``settings`` (the run's resolved train params without its seed, or None
    where not recorded) and ``seen`` (what training counted, or None)."""
    if not isinstance(meta, dict):
        meta = _meta_from_folder(model, Path(meta))
    is_base = model.startswith(f"{BASE}-")
    student = meta.get("student", model[len(BASE) + 1 :] if is_base else "")
    if isinstance(student, dict):
        student = student.get("name", "")
    return {
        "run": meta.get("run", model),
        "student": student,
        "data": meta.get("data", BASE if is_base else "unknown"),
        "objective": meta.get("objective", "none" if is_base else "unknown"),
        "seed": int(meta.get("replicate", meta.get("seed", 0)) or 0),
        "languages": list(meta.get("languages") or []),
        "provenance": meta.get("provenance", ""),
        "model_id": _model_id(meta),
        "settings": meta.get("settings"),
        "seen": meta.get("seen"),
    }


def _model_id(meta: dict) -> str:
    """The Hugging Face id of the student a model is (or was trained from), if recorded."""
    student = meta.get("student")
    if isinstance(student, dict) and student.get("model"):
        return str(student["model"])
    return str(meta.get("model_id") or "")


def _meta_from_folder(model: str, folder: Path) -> dict:
    if (folder / RUN_FILE).exists():
        # The train stage's record: {"params": resolved run params, "provenance": {...}}.
        record = read_json(folder / RUN_FILE)
        meta = dict(record.get("params", record))
        meta["settings"] = {k: v for k, v in meta.items() if k not in JOB_KEYS}
        meta["seen"] = record.get("seen")  # counted in training, where recorded
        provenance = record.get("provenance")
        student = provenance.get("student", {}) if isinstance(provenance, dict) else {}
        meta["provenance"] = f"trained from {student.get('provenance') or 'the student'}"
        return meta
    if (folder / MODEL_FILE).exists():
        info = read_json(folder / MODEL_FILE)
        return {"provenance": info.get("provenance", ""), "model_id": info.get("model_id")}
    log.warning(
        "%s: no %s or %s in %s; described by its name only", model, RUN_FILE, MODEL_FILE, folder
    )
    return {}


def fill_base_languages(models: dict[str, dict]) -> None:
    """Give each base student the union of the training languages of its runs (in place)."""
    for info in models.values():
        if info["data"] == BASE and not info["languages"]:
            info["languages"] = sorted(
                {
                    lang
                    for other in models.values()
                    if other["student"] == info["student"] and other["data"] != BASE
                    for lang in other["languages"]
                }
            )


def task_type(task: str, result: dict | None = None) -> str:
    """Task type (BitextMining, STS, Classification, ...) of an offline or mteb task."""
    if task in OFFLINE_TASKS:
        return OFFLINE_TASKS[task]
    from mwalign.evaluate.mteb_tasks import mteb_task_type

    return mteb_task_type(task)


def task_evaluation_split(task: str) -> str:
    """The split of ``task`` that aggregates and tests use (the offline tasks: ``test``)."""
    if task in OFFLINE_TASKS:
        return "test"
    from mwalign.evaluate.mteb_tasks import mteb_evaluation_split

    return mteb_evaluation_split(task)


def result_rows(result: dict, model: str, info: dict) -> list[dict]:
    """Rows of one mteb result: every numeric metric of every split and subset."""
    kind = task_type(result["task_name"], result)
    evaluation = task_evaluation_split(result["task_name"])
    rows = []
    for split, entries in result["scores"].items():
        for entry in entries:
            codes = [config_code(lang) for lang in entry["languages"]]
            distinct = list(dict.fromkeys(codes))
            language = "-".join(codes) if len(distinct) > 1 else distinct[0]
            others = [c for c in distinct if c != SOURCE_LANGUAGE] or [SOURCE_LANGUAGE]
            seen = pair_seen_tag(others, info["languages"])
            for metric, value in entry.items():
                if metric in NOT_METRICS or not _is_number(value):
                    continue
                rows.append(
                    {
                        "model": model,
                        "run": info["run"],
                        "student": info["student"],
                        "data": info["data"],
                        "objective": info["objective"],
                        "seed": info["seed"],
                        "task": result["task_name"],
                        "task_type": kind,
                        "split": split,
                        "evaluation": split == evaluation,
                        "subset": entry["hf_subset"],
                        "language": language,
                        "seen": seen,
                        "metric": metric,
                        "score": float(value),
                    }
                )
    return rows


def _is_number(value: object) -> bool:
    """A finite int or float (mteb writes NaN for metrics that do not apply, e.g. binary AP)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def collect_scores(result_paths: list, model_meta: dict) -> tuple[pd.DataFrame, dict]:
    """All result files -> (scores frame with SCORES columns, model descriptions by model)."""
    models = {model: describe_model(model, meta) for model, meta in model_meta.items()}
    fill_base_languages(models)
    rows = []
    for path in map(Path, result_paths):
        model = path.parent.name
        if model not in models:
            raise ValueError(
                f"{path}: model {model!r} is not in model_meta; known: {sorted(models)}"
            )
        rows += result_rows(read_json(path), model, models[model])
    frame = pd.DataFrame(rows, columns=SCORES.names)
    return frame.astype({"seed": "int64", "score": "float64", "evaluation": "bool"}), models
