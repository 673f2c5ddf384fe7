"""The train stage's checks of a config: cross-field at parse time, then against the data.

- :func:`check_config` (every parse, from :func:`mwalign.config.validate_config`):
  students and runs exist and name each other, job names are distinct, trackers are
  installed, label strategies have the teacher languages they read, ``train_rows``
  holds a batch, ``row_languages`` fits the languages and the objective, a soft run's
  two temperatures agree unless ``separate_temperatures``, ``denominator: negatives``
  only on infonce runs, ``steps`` and ``epochs`` agree, ``patience`` and sweeps have dev
  evaluations, every sweep point is a valid run.
- :func:`check_removed_keys` (every parse, before the schema): removed settings name
  their replacement.
- :func:`check_batches` and :func:`check_model_limits` (once per run, from
  :func:`mwalign.config.check_inputs`): a step's sentence ids fit in the train split;
  students' ``max_seq_length`` and runs' ``freeze_layers`` fit the model's config.json
  where it can be read now.
- :func:`check_rows_per_step`: the same step check, which the train job runs first
  (before it writes anything) when the dataset did not exist at parse time.

Each raises :class:`mwalign.errors.ConfigError` (or ValueError, which the config's
validation turns into one) naming the key, the value and what is allowed.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from mwalign.errors import ConfigError
from mwalign.jobs import sweep_points, train_jobs
from mwalign.limits import check_layers, check_seq_length, model_config_at_hand
from mwalign.train.params import (
    batch_size,
    derived_budget,
    row_languages,
    run_settings,
    teacher_labels_per_view,
    train_params,
)

# The package each experiment tracker of `train.report_to` needs, where it has another name.
TRACKER_PACKAGES = {"azure_ml": "azureml"}
# Train settings that no longer exist -> what replaces them.
REMOVED_KEYS = {
    "enx_equal_sentences": "match: sentences (En-X runs encode as many sentences per step as "
    "multi-way runs; match: pairs matches training pairs instead)",
}


def check_removed_keys(config: dict[str, Any]) -> None:
    """Before the schema: a removed train setting gets a ConfigError naming its replacement
    (the schema alone would only call it unknown)."""
    blocks = [("config.train", config.get("train"))]
    runs = config.get("runs")
    if isinstance(runs, dict):
        blocks += [(f"config.runs.{name}", run) for name, run in runs.items()]
    for where, block in blocks:
        if not isinstance(block, dict):
            continue
        for key, replacement in REMOVED_KEYS.items():
            if key in block:
                raise ConfigError(
                    f"{where}.{key} = {block[key]!r}: this setting was removed; use {replacement}"
                )


def _check_trackers(trackers: list[str]) -> None:
    """Each tracker of config.train.report_to needs its package installed: no job fails later."""
    for tracker in trackers:
        package = TRACKER_PACKAGES.get(tracker, tracker)
        if importlib.util.find_spec(package) is None:
            raise ValueError(
                f"config.train.report_to lists {tracker!r}, but its package {package!r} is not "
                f"installed; install it (pip install {package}) or remove it from the list"
            )


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
    hyper = params["train"]
    all_languages = len(params["languages"]) + 1
    k = hyper["row_languages"]
    if k is not None and k > all_languages:
        raise ValueError(
            f"{where}: row_languages = {k}, but the experiment has {all_languages} languages "
            f"(en + {params['languages']}); allowed: 2 to {all_languages}, or null for all"
        )
    k_rows = params["data"] == "multiway" and row_languages(params) < all_languages
    if k_rows and params["objective"] != "infonce":
        raise ValueError(
            f"{where}: row_languages = {k} (k-language rows) works with objective "
            f"'infonce' only, not {params['objective']!r}: the teacher objectives score "
            "every language of every row; set row_languages: null for this run"
        )
    if (
        params["objective"] == "soft"
        and hyper["soft_temperature"] != hyper["teacher_temperature"]
        and not hyper["separate_temperatures"]
    ):
        raise ValueError(
            f"{where}: soft_temperature = {hyper['soft_temperature']} but teacher_temperature "
            f"= {hyper['teacher_temperature']}: two temperatures, where IMASCL uses one tau; "
            "set both to the same value, or set separate_temperatures: true if two are meant"
        )
    denominator = hyper["denominator"]
    if denominator != "standard" and params["objective"] != "infonce":
        raise ValueError(
            f"{where}: denominator {denominator!r} applies to the infonce objective only, but "
            f"the run's objective is {params['objective']!r}; allowed for it: 'standard' "
            "(set denominator in the infonce runs, not in the shared train block)"
        )
    rows = derived_budget(params)["train_rows"]
    if rows is not None and rows < batch_size(params):
        raise ValueError(
            f"{where}.train_rows = {rows}: fewer than the {batch_size(params)} rows of one "
            "batch; raise train_rows or lower batch_ids"
        )


def _check_training_length(config: dict[str, Any], name: str) -> None:
    """``steps`` against ``epochs``; ``patience`` and a sweep need dev evaluations."""
    run = config["runs"][name]
    where = f"config.runs.{name}"
    for point in sweep_points(config, name).values() or [{}]:
        settings = run_settings(config, name, point)
        if "steps" in run and settings["epochs"] is not None:
            raise ConfigError(
                f"{where}.steps = {run['steps']}, but the run trains for epochs = "
                f"{settings['epochs']}; give one of them: set epochs: null in the run to "
                "train by steps, or drop its steps"
            )
        every = settings["eval_every"]
        if every == "epoch" and settings["epochs"] is None:
            raise ConfigError(
                f"{where}: eval_every = 'epoch' needs a run trained by epochs, but epochs is "
                "null; set epochs, or give eval_every in steps"
            )
        if settings["patience"] is not None and every == 0:
            raise ConfigError(
                f"{where}: patience = {settings['patience']} needs dev evaluations, but "
                "eval_every is 0; set eval_every >= 1 (steps between evaluations) or 'epoch', "
                "or patience: null"
            )
        if run.get("sweep") and every == 0:
            raise ConfigError(
                f"{where}.sweep chooses its point on dev, but eval_every is 0; set "
                "eval_every >= 1 (steps between evaluations) or 'epoch'"
            )


# Settings that leave the objective itself as it is: a sweep over only these may choose
# its point on the dev loss.
LOSS_NEUTRAL_KEYS = (
    "learning_rate", "warmup_ratio", "weight_decay", "max_grad_norm", "steps", "epochs",
    "gradient_accumulation", "freeze_embeddings", "freeze_layers", "train_rows", "patience",
)  # fmt: skip


def _check_sweep(config: dict[str, Any], name: str) -> None:
    """A sweep chosen on the dev loss varies only settings that keep the objective's scale
    (its keys and every point are checked with the schema, :func:`mwalign.config.check_sweeps`)."""
    run = config["runs"][name]
    metric = run_settings(config, name)["dev_metric"]
    shaping = sorted(set(run.get("sweep") or {}) - set(LOSS_NEUTRAL_KEYS))
    if metric == "loss" and shaping:
        raise ConfigError(
            f"config.runs.{name}.sweep varies {shaping}, which change the objective's scale, "
            "so dev losses of its points are not comparable; use dev_metric: accuracy, or "
            f"sweep only {list(LOSS_NEUTRAL_KEYS)}"
        )


def check_config(config: dict[str, Any]) -> None:
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
    for name in config["runs"]:
        _check_sweep(config, name)
        _check_training_length(config, name)
    jobs = train_jobs(config)
    clashes = sorted({job for job in jobs if jobs.count(job) > 1})
    if clashes:
        raise ValueError(f"config.runs: train job names {clashes} occur twice; rename a run")
    for job in jobs:
        _check_job(config, job)


# ---------------------------------------------------------------- against the data


def train_rows(config: dict[str, Any], rows: int, *, enough: int) -> int:
    """Sentence ids in the train split when all of the first ``rows`` ids are kept, counted
    until ``enough`` are found (the split is drawn per id, so a large corpus costs nothing)."""
    import numpy as np

    from mwalign.assemble import assign_splits

    found, start = 0, 0
    while start < rows and found < enough:
        ids = np.arange(start, min(rows, start + 4096))
        splits = assign_splits(ids, config["dataset"]["dev_fraction"], config["seed"])
        found += int((splits == "train").sum())
        start += len(ids)
    return found


def batch_key(config: dict[str, Any], run: str) -> str:
    """Where a run's batch_ids is set: the run's own key, or the shared train block."""
    if "batch_ids" in config["runs"][run]:
        return f"config.runs.{run}.batch_ids"
    return "config.train.batch_ids"


def check_rows_per_step(*, key: str, params: dict[str, Any], rows: int, where: str) -> None:
    """A step takes ``batch_size(params)`` distinct sentence ids; ``rows`` are available."""
    need = batch_size(params)
    if need <= rows:
        return
    value = params["train"]["batch_ids"]
    how = "" if need == value else f" (x k / 2 = {need}: match: sentences)"
    raise ConfigError(
        f"{key} is {value}{how}, but {where} has {rows} training sentences; allowed: a step of "
        f"at most {rows} sentence ids (lower batch_ids, or raise corpus.size)"
    )


def check_batches(config: dict[str, Any], *, rows: int) -> None:
    """Every train job's step fits in the train split (before drop_flagged drops any row);
    ``rows``: the corpus's rows at most (:func:`mwalign.sample.checks.check_corpus_size`)."""
    jobs = [train_params(config, job) for job in train_jobs(config)]
    if not jobs:
        return
    available = train_rows(config, rows, enough=max(map(batch_size, jobs)))
    fraction = config["dataset"]["dev_fraction"]
    where = f"the train split of {rows} sentences (dataset.dev_fraction {fraction})"
    for params in jobs:
        key = batch_key(config, params["run"])
        check_rows_per_step(key=key, params=params, rows=available, where=where)


def check_model_limits(config: dict[str, Any]) -> None:
    """Students' max_seq_length and the runs' freeze_layers against each model's config.json,
    where it can be read now (otherwise the train job checks them first)."""
    try:
        _check_model_limits(config)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _check_model_limits(config: dict[str, Any]) -> None:
    for name, student in config["students"].items():
        model_config = model_config_at_hand(student["model"])
        if model_config is None:
            continue
        key = f"config.students.{name}.max_seq_length"
        check_seq_length(
            key=key, value=student["max_seq_length"], model_config=model_config,
            model=student["model"],
        )  # fmt: skip
        for run, settings in config["runs"].items():
            if settings["student"] != name:
                continue
            where = "runs." + run if "freeze_layers" in settings else "train"
            check_layers(
                key=f"config.{where}.freeze_layers",
                value=run_settings(config, run)["freeze_layers"],
                model_config=model_config,
                model=student["model"],
            )
