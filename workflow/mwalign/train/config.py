"""The train stage's slice of the config: defaults, validation and per-run resolution.

``train`` holds hyperparameters shared by every run; each entry of ``runs`` names a
student, a data mode and an objective and may override any ``train`` key. A run with
several ``seeds`` becomes one train job per seed (``{run}-seed{k}``). Every job's seed
is derived from the experiment seed and the replicate index only, so runs that differ
in data or objective share steps, batch size and seed by default.
"""

from __future__ import annotations

import copy
import numbers
from typing import Any

from mwalign.provenance import derive_seed

OBJECTIVES = ("infonce", "soft", "similarity_mse", "embedding_mse")
TEACHER_OBJECTIVES = ("soft", "similarity_mse", "embedding_mse")
DATA_MODES = ("multiway", "enx")
PRECISIONS = ("fp32", "bf16", "fp16")
LABEL_STRATEGIES = ("priority", "average")
PAIR_SELECTIONS = ("all", "english")

TRAIN_DEFAULTS: dict[str, Any] = {
    "steps": 30,
    "batch_ids": 16,
    "learning_rate": 5.0e-5,
    "temperature": 0.05,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "freeze_embeddings": True,
    "freeze_layers": 0,
    "gradient_accumulation": 1,
    "gradient_checkpointing": False,
    "precision": "fp32",
    "enx_equal_sentences": False,
    "pairs": "all",
    "label_strategy": "priority",
    "teacher_temperature": 0.1,
    "tcm": False,
    "tcm_lambda": 1.0,
    "checkpoint_every": 100,
    "keep_checkpoints": 2,
}
STUDENT_DEFAULTS: dict[str, Any] = {"prefix": "", "max_seq_length": 128}
RUN_KEYS = ("student", "data", "objective", "seeds")

# name -> (kind, lower bound, bound is inclusive); kinds: int, float, bool
_NUMERIC = {
    "steps": ("int", 1, True),
    "batch_ids": ("int", 2, True),
    "learning_rate": ("float", 0, False),
    "temperature": ("float", 0, False),
    "warmup_ratio": ("float", 0, True),
    "weight_decay": ("float", 0, True),
    "max_grad_norm": ("float", 0, False),
    "gradient_accumulation": ("int", 1, True),
    "freeze_layers": ("int", 0, True),
    "teacher_temperature": ("float", 0, False),
    "tcm_lambda": ("float", 0, True),
    "checkpoint_every": ("int", 0, True),
    "keep_checkpoints": ("int", 1, True),
}
_CHOICES = {
    "precision": PRECISIONS,
    "pairs": PAIR_SELECTIONS,
    "label_strategy": LABEL_STRATEGIES,
}
_FLAGS = ("freeze_embeddings", "gradient_checkpointing", "enx_equal_sentences", "tcm")


def _check_value(where: str, key: str, value: Any) -> None:
    if key in _FLAGS:
        if not isinstance(value, bool):
            raise ValueError(f"{where}.{key} = {value!r}: must be true or false")
    elif key in _CHOICES:
        if value not in _CHOICES[key]:
            raise ValueError(f"{where}.{key} = {value!r}: allowed: {list(_CHOICES[key])}")
    elif key in _NUMERIC:
        kind, low, inclusive = _NUMERIC[key]
        number_ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if kind == "int":
            number_ok = number_ok and float(value).is_integer()
        if not number_ok or (value < low if inclusive else value <= low):
            bound = f">= {low}" if inclusive else f"> {low}"
            noun = "an integer" if kind == "int" else "a number"
            raise ValueError(f"{where}.{key} = {value!r}: must be {noun} {bound}")
    else:
        raise ValueError(f"{where}: unknown key {key!r}; allowed: {sorted(TRAIN_DEFAULTS)}")
    if key == "warmup_ratio" and value >= 1:
        raise ValueError(f"{where}.warmup_ratio = {value!r}: must be in [0, 1)")


def check_train_settings(where: str, settings: dict[str, Any]) -> None:
    """Check a ``train`` block or a run's overrides: known keys, allowed values."""
    if not isinstance(settings, dict):
        raise ValueError(f"{where} must be a mapping, got {settings!r}")
    for key, value in settings.items():
        _check_value(where, key, value)


def _check_students(students: Any) -> None:
    if not isinstance(students, dict) or not students:
        raise ValueError("config.students must name at least one student (name: {model: ...})")
    for name, student in students.items():
        if not isinstance(student, dict) or not isinstance(student.get("model"), str):
            raise ValueError(
                f"config.students.{name} needs a 'model' (a Hugging Face id or folder)"
            )
        unknown = sorted(set(student) - {"model", *STUDENT_DEFAULTS})
        if unknown:
            allowed = ["model", *STUDENT_DEFAULTS]
            raise ValueError(f"config.students.{name}: unknown keys {unknown}; allowed: {allowed}")
        length = student.get("max_seq_length", STUDENT_DEFAULTS["max_seq_length"])
        if isinstance(length, bool) or not isinstance(length, int) or length < 8:
            raise ValueError(
                f"config.students.{name}.max_seq_length = {length!r}: must be an integer >= 8"
            )
        if not isinstance(student.get("prefix", ""), str):
            raise ValueError(f"config.students.{name}.prefix must be a string")


def _check_run(config: dict[str, Any], name: str, run: Any) -> None:
    where = f"config.runs.{name}"
    if not isinstance(run, dict):
        raise ValueError(f"{where} must be a mapping with student, data and objective")
    if run.get("student") not in config["students"]:
        known = sorted(config["students"])
        raise ValueError(f"{where}.student = {run.get('student')!r}: known students: {known}")
    if run.get("data") not in DATA_MODES:
        raise ValueError(f"{where}.data = {run.get('data')!r}: allowed: {list(DATA_MODES)}")
    if run.get("objective", "infonce") not in OBJECTIVES:
        raise ValueError(
            f"{where}.objective = {run.get('objective')!r}: allowed: {list(OBJECTIVES)}"
        )
    seeds = run.get("seeds", [0])
    if (
        not isinstance(seeds, list)
        or not seeds
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise ValueError(
            f"{where}.seeds = {seeds!r}: must be a non-empty list of distinct integers >= 0"
        )
    check_train_settings(where, {k: v for k, v in run.items() if k not in RUN_KEYS})


def _check_teacher_languages(config: dict[str, Any], name: str) -> None:
    params = train_params(config, name)
    if (
        params["objective"] in ("soft", "similarity_mse")
        and params["train"]["label_strategy"] == "average"
    ):
        taught = set(config.get("teacher", {}).get("languages", ["en"]))
        missing = sorted(set(params["languages"]) - taught)
        if missing:
            raise ValueError(
                f"config.runs.{params['run']}: label_strategy 'average' needs teacher embeddings "
                f"of every language, but teacher.languages lacks {missing}; add them or use "
                "'priority'"
            )


def check_train_config(config: dict[str, Any]) -> None:
    """Raise ValueError naming the bad value and what is allowed (students, train, runs)."""
    _check_students(config.get("students"))
    check_train_settings("config.train", config.get("train", {}))
    runs = config.get("runs")
    if not isinstance(runs, dict) or not runs:
        raise ValueError(
            "config.runs must name at least one run (name: {student, data, objective})"
        )
    for name, run in runs.items():
        _check_run(config, name, run)
    jobs = train_jobs(config)
    clashes = sorted({job for job in jobs if jobs.count(job) > 1})
    if clashes:
        raise ValueError(f"config.runs: train job names {clashes} occur twice; rename a run")
    for job in jobs:
        _check_teacher_languages(config, job)


def train_jobs(config: dict[str, Any]) -> list[str]:
    """One name per train job: the run name, or ``{run}-seed{k}`` for runs with several seeds."""
    jobs = []
    for name, run in config["runs"].items():
        seeds = run.get("seeds", [0])
        jobs += [name] if len(seeds) == 1 else [f"{name}-seed{seed}" for seed in seeds]
    return jobs


def _resolve_job(config: dict[str, Any], job: str) -> tuple[str, int]:
    runs = config["runs"]
    if job in runs and len(runs[job].get("seeds", [0])) == 1:
        return job, runs[job].get("seeds", [0])[0]
    for name, run in runs.items():
        seeds = run.get("seeds", [0])
        for seed in seeds:
            if len(seeds) > 1 and job == f"{name}-seed{seed}":
                return name, seed
    raise ValueError(f"unknown train job {job!r}; known: {train_jobs(config)}")


def train_params(config: dict[str, Any], job: str) -> dict[str, Any]:
    """Exactly the config slice one train job depends on, fully resolved.

    ``job`` is a run name, or ``{run}-seed{k}`` for a run with several seeds (see
    :func:`train_jobs`). The teacher appears only for objectives that read it, so
    changing the teacher reruns only those jobs.
    """
    run_name, replicate = _resolve_job(config, job)
    run = config["runs"][run_name]
    student = {**STUDENT_DEFAULTS, **config["students"][run["student"]]}
    hyper = {**TRAIN_DEFAULTS, **config.get("train", {})}
    hyper.update({k: v for k, v in run.items() if k not in RUN_KEYS})
    objective = run.get("objective", "infonce")
    teacher = None
    if objective in TEACHER_OBJECTIVES:
        teacher_cfg = config.get("teacher", {})
        teacher = {
            "model": teacher_cfg.get("model"),
            "languages": list(teacher_cfg.get("languages", ["en"])),
        }
    return copy.deepcopy(
        {
            "job": job,
            "run": run_name,
            "replicate": replicate,
            "seed": derive_seed(config["seed"], "train", replicate),
            "student": {"name": run["student"], **student},
            "data": run["data"],
            "objective": objective,
            "languages": list(config["languages"]),
            "teacher": teacher,
            "train": hyper,
        }
    )
