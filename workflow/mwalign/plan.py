"""The experiment plan: every job's name and every job's params slice, from a validated config.

The workflow (workflow/rules/common.smk) asks this module, and only this module, for
job names (train jobs ``{run}`` or ``{run}-seed{k}``, evaluated models ``base-{student}``),
model folders and ids, translation shards, and the params each rule passes to its
script. A params slice holds exactly the config a job depends on, so a change elsewhere
in the config reruns nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from mwalign.evaluate.settings import OFFLINE_TASKS
from mwalign.models.ids import model_slug, translator_slug
from mwalign.paths import BASE_PREFIX, MODELS_DIR, SOURCE_LANGUAGE
from mwalign.provenance import derive_seed
from mwalign.translate.config import shard_count, translate_params
from mwalign.translate.convert import converted_dir
from mwalign.trust import remote_code_allowed

# Objectives whose loss reads the teacher's embeddings (their jobs depend on the teacher).
TEACHER_OBJECTIVES = ("soft", "similarity_mse", "embedding_mse")
# Keys of a run that are not training settings (those override the `train` block).
RUN_KEYS = ("student", "data", "objective", "seeds")


# ------------------------------------------------------------------------ train


def _job_names(name: str, seeds: list[int]) -> dict[str, int]:
    """Train job name -> replicate index of one run: its name, or ``{run}-seed{k}`` each."""
    if len(seeds) == 1:
        return {name: seeds[0]}
    return {f"{name}-seed{seed}": seed for seed in seeds}


def _train_table(config: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(job, run, replicate) of every train job, in config order."""
    return [
        (job, name, seed)
        for name, run in config["runs"].items()
        for job, seed in _job_names(name, run["seeds"]).items()
    ]


def train_jobs(config: dict[str, Any]) -> list[str]:
    """One name per train job: the run name, or ``{run}-seed{k}`` for runs with several seeds."""
    return [job for job, _, _ in _train_table(config)]


def _resolve_job(config: dict[str, Any], job: str) -> tuple[str, int]:
    for name, run, seed in _train_table(config):
        if name == job:
            return run, seed
    raise ValueError(f"unknown train job {job!r}; known: {train_jobs(config)}")


def run_settings(config: dict[str, Any], run: str) -> dict[str, Any]:
    """A run's training settings: the (filled) ``train`` block updated by the run's keys.

    ``train.report_to`` is left out: it names where a run logs, not how it trains, so
    changing it never retrains a model (the train script reads it from the config).
    """
    settings = copy.deepcopy(config["train"])
    settings.pop("report_to", None)
    settings.update({k: v for k, v in config["runs"][run].items() if k not in RUN_KEYS})
    return settings


def train_params(config: dict[str, Any], job: str) -> dict[str, Any]:
    """Exactly the config slice one train job depends on, fully resolved.

    ``job`` is a run name, or ``{run}-seed{k}`` for a run with several seeds (see
    :func:`train_jobs`). The teacher appears only for objectives that read it, so
    changing the teacher reruns only those jobs.
    """
    run_name, replicate = _resolve_job(config, job)
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
            "train": run_settings(config, run_name),
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


# --------------------------------------------------------------------- evaluate


def base_models(config: dict[str, Any]) -> dict[str, str]:
    """Evaluated model name of each student before training (``base-{student}``) -> student."""
    return {f"{BASE_PREFIX}{name}": name for name in config["students"]}


def eval_models(config: dict[str, Any]) -> dict[str, str]:
    """Every evaluated model (base students, then train jobs) -> its student's name."""
    models = base_models(config)
    models.update({job: config["runs"][run]["student"] for job, run, _ in _train_table(config)})
    return models


def model_name_sources(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(evaluated model name, the config entry that makes it) of every evaluated model.

    Base students (``base-{student}``) and train jobs share one namespace (their result
    folders), so a name that occurs twice here is a config mistake.
    """
    names = [(base, f"config.students.{name}") for base, name in base_models(config).items()]
    names += [(job, f"config.runs.{run}") for job, run, _ in _train_table(config)]
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


def evaluate_params(config: dict[str, Any], model: str, task: str) -> dict[str, Any]:
    """Exactly the config slice one (model, task) evaluation job depends on.

    A trained model's folder carries its student's input prefix (as its default prompt)
    and truncation length, so its jobs depend on the folder only. A base student's folder
    is shared by every student of that model id, so its jobs carry the student's
    ``prefix`` and ``max_seq_length`` in ``student``, applied when the model is loaded.
    Every model also carries its student's pooling and attention mode, applied when it
    is loaded (a trained folder saved them; a base folder is shared). The training
    settings are not included (the model folder is the job's input).
    """
    settings = config["evaluate"]
    student = model_student(config, model)
    student_config = config["students"][student]
    base = {"prefix": student_config["prefix"], "max_seq_length": student_config["max_seq_length"]}
    params: dict[str, Any] = {
        "task": task,
        "student": base if model in base_models(config) else None,
        "student_name": student,
        "pooling": student_config["pooling"],
        "attention": student_config["attention"],
        "precision": settings["precision"],
        "languages": list(config["languages"]),
        "unseen_languages": list(settings["unseen_languages"]),
    }
    if task in OFFLINE_TASKS:
        params["seed"] = config["seed"]
        params["bible"] = copy.deepcopy(settings["bible"])
        if OFFLINE_TASKS[task] == "Classification":
            params["classification"] = copy.deepcopy(settings["classification"])
    else:
        params["mteb_languages"] = settings["mteb_languages"]
    return params


# ---------------------------------------------------------------------- translate


def shards(config: dict[str, Any]) -> list[int]:
    """Translation shard indices of the corpus (the same for every language)."""
    return list(range(shard_count(config["corpus"]["size"], config["translate"]["shard_size"])))


def translate_job_params(config: dict[str, Any], lang: str) -> dict[str, Any]:
    """:func:`mwalign.translate.translate_params` of ``lang``, for the translate rule.

    A translator the config's ``trust_remote_code`` list names gets
    ``trust_remote_code: true`` in its settings (so allowing it reruns its shards); every
    other model loads with remote code off.
    """
    params = translate_params(config["translate"], lang)
    settings = params[params["backend"]]
    if "model" in settings and remote_code_allowed(config, settings["model"]):
        settings["trust_remote_code"] = True
    return params


def ctranslate2_models(config: dict[str, Any]) -> dict[str, str]:
    """Slug -> id of every translator rule convert_ctranslate2 converts (one per Marian pair).

    Empty unless ``translate.backend`` is ctranslate2.
    """
    if config["translate"]["backend"] != "ctranslate2":
        return {}
    models = {
        translate_job_params(config, lang)["ctranslate2"]["model"] for lang in config["languages"]
    }
    return {model_slug(model): model for model in sorted(models)}


def translator_dir(config: dict[str, Any], lang: str) -> str:
    """The converted (CTranslate2) translator folder that the shards of ``lang`` read."""
    return converted_dir(translate_job_params(config, lang)["ctranslate2"]["model"])


def convert_params(config: dict[str, Any], slug: str) -> dict[str, Any]:
    """The convert_ctranslate2 rule's params for one translator: its id and its input, the
    folder fetch_model made (which records the trust decision)."""
    model_id = ctranslate2_models(config)[slug]
    return {"model_id": model_id, "model_dir": translator_model_dir(model_id)}


def similarity_params(config: dict[str, Any]) -> dict[str, Any] | None:
    """What a shard's similarity scores depend on (encoder, prefix, batch, and how the
    encoder is loaded); None when off.

    ``model: null`` is the first student's model, loaded as that student (length, pooling,
    attention), with its prefix unless ``prefix`` is set; a named model is loaded as its
    folder saved it, with no prefix unless ``prefix`` is set.
    """
    settings = config["translate"]["similarity"]
    if not settings["enabled"]:
        return None
    model, prefix = settings["model"], settings["prefix"]
    # a named encoder keeps its folder's length and pooling
    loading = {"student": None, "max_seq_length": None, "pooling": None, "attention": "pretrained"}
    if model is None:
        name, student = next(iter(config["students"].items()))
        model = student["model"]
        prefix = student["prefix"] if prefix is None else prefix
        loading = {
            "student": name,
            "max_seq_length": student["max_seq_length"],
            "pooling": student["pooling"],
            "attention": student["attention"],
        }
    return {
        "model": model,
        "prefix": prefix or "",
        "batch_size": settings["batch_size"],
        **loading,
    }


def assemble_similarity(config: dict[str, Any]) -> dict[str, Any] | None:
    """The similarity entry of the assemble settings (encoder and threshold); None when off."""
    params = similarity_params(config)
    if params is None:
        return None
    threshold = config["translate"]["similarity"]["threshold"]
    return {"model": params["model"], "prefix": params["prefix"], "threshold": threshold}


# ------------------------------------------------------------------------ models


def model_dir(model_id: str) -> str:
    """Folder that the fetch_model rule materialises ``model_id`` into."""
    return f"{MODELS_DIR}/{model_slug(model_id)}"


def translator_model_dir(model_id: str, gguf_file: str | None = None) -> str:
    """Folder that the fetch_model rule materialises translator ``model_id`` into."""
    return f"{MODELS_DIR}/{translator_slug(model_id, gguf_file)}"


def _translator(config: dict[str, Any], lang: str) -> tuple[str, str | None] | None:
    """(model id, GGUF file) of ``lang``'s translator; None for the reference backend."""
    backend = config["translate"]["backend"]
    if backend == "reference":
        return None
    settings = config["translate"][backend]
    gguf_file = settings["gguf_file"] if backend == "transformers" else None
    return settings["model"].replace("{lang}", lang), gguf_file


def fetched_translator_dir(config: dict[str, Any], lang: str) -> str | None:
    """Folder the fetch_model rule materialises ``lang``'s translator into (None: no model)."""
    translator = _translator(config, lang)
    if translator is None:
        return None
    return translator_model_dir(*translator)


def _fetch_table(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Slug -> what fetch_model makes: encoders (teacher, students), then each translator."""
    ids = [config["teacher"]["model"], *(s["model"] for s in config["students"].values())]
    similarity = similarity_params(config)
    if similarity is not None:
        ids.append(similarity["model"])  # the first student's, or an encoder of its own
    table = {
        model_slug(model_id): {"model_id": model_id, "kind": "encoder", "gguf_file": None}
        for model_id in ids
    }
    for lang in config["languages"]:
        translator = _translator(config, lang)
        if translator is not None:
            model_id, gguf_file = translator
            entry = {"model_id": model_id, "kind": "translator", "gguf_file": gguf_file}
            table[translator_slug(model_id, gguf_file)] = entry
    return table


def model_ids(config: dict[str, Any]) -> dict[str, str]:
    """Slug -> model id of every model the fetch_model rule materialises, translators too."""
    return {slug: entry["model_id"] for slug, entry in _fetch_table(config).items()}


def fetch_params(config: dict[str, Any], slug: str) -> dict[str, Any]:
    """The fetch_model rule's params for one model folder: id, kind, GGUF file, trust."""
    entry = _fetch_table(config)[slug]
    return {**entry, "allow_remote_code": remote_code_allowed(config, entry["model_id"])}


# ------------------------------------------------------------------------- table


@dataclass(frozen=True)
class Plan:
    """Job names of one experiment, as the workflow's wildcards take them."""

    languages: list[str]
    shards: list[int]
    teacher: str  # slug of the teacher model
    train_jobs: list[str]
    base_models: dict[str, str]
    eval_models: list[str]
    tasks: list[str]
    model_ids: dict[str, str]


def make_plan(config: dict[str, Any]) -> Plan:
    """The job names of a validated ``config``."""
    return Plan(
        languages=list(config["languages"]),
        shards=shards(config),
        teacher=model_slug(config["teacher"]["model"]),
        train_jobs=train_jobs(config),
        base_models=base_models(config),
        eval_models=list(eval_models(config)),
        tasks=list(config["evaluate"]["tasks"]),
        model_ids=model_ids(config),
    )


def job_table(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per job of the experiment (stage, job name, what it depends on)."""
    plan = make_plan(config)
    rows: list[dict[str, Any]] = [{"stage": "sample", "job": SOURCE_LANGUAGE}]
    rows += [
        {"stage": "fetch_model", "job": slug, "model": m} for slug, m in plan.model_ids.items()
    ]
    rows += [
        {"stage": "translate", "job": f"{lang}/{shard}", "backend": config["translate"]["backend"]}
        for lang in plan.languages
        for shard in plan.shards
    ]
    rows += [{"stage": "assemble", "job": "dataset"}, {"stage": "teacher", "job": plan.teacher}]
    for job in plan.train_jobs:
        params = train_params(config, job)
        rows.append(
            {
                "stage": "train",
                "job": job,
                "student": params["student"]["name"],
                "data": params["data"],
                "objective": params["objective"],
                "seed": params["seed"],
            }
        )
    rows += [
        {"stage": "evaluate", "job": f"{model}/{task}"}
        for model in plan.eval_models
        for task in plan.tasks
    ]
    rows.append({"stage": "report", "job": "report"})
    return rows
