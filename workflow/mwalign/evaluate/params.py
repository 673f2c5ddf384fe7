"""The evaluate stage's params: exactly the config slice each (model, task) job depends on.

Every key of ``evaluate``, with its default, allowed values and bounds, is declared in
mwalign/schemas/evaluate.schema.yaml; evaluated model names come from
:mod:`mwalign.jobs`. :data:`OFFLINE_TASKS` names the project's own tasks, built from the
packaged Bible (:mod:`mwalign.evaluate.bible_tasks`); every other task is mteb's.
"""

from __future__ import annotations

import copy
from typing import Any

from mwalign.jobs import base_models, model_student

# The project's own tasks, built from the packaged Bible corpus (offline): name -> task type.
OFFLINE_TASKS = {
    "BibleBitextMining": "BitextMining",
    "BibleClassification": "Classification",
}


def evaluate_params(config: dict[str, Any], model: str, task: str) -> dict[str, Any]:
    """Exactly the config slice one (model, task) evaluation job depends on.

    A trained model's folder carries its student's input prefix (as its default prompt)
    and truncation length, so its jobs depend on the folder only. A base student's folder
    is shared by every student of that model id, so its jobs carry the student's
    ``prefix`` and ``max_seq_length`` in ``student``, applied when the model is loaded.
    Every model also carries its student's pooling and attention mode, applied when it
    is loaded (a trained folder saved them; a base folder is shared). The training
    settings are not included (the model folder is the job's input). An offline task's
    params add the seed and the Bible settings (and the classifier's, for
    classification); an mteb task's add ``mteb_languages``.
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
