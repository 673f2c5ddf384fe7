"""Any mteb task by name, restricted to the experiment's languages.

These tasks download their data from the Hugging Face hub (into the project's HF
datasets cache, see :func:`mwalign.evaluate.caches.import_mteb`), so they need the
hub; offline, use the project's Bible tasks.
"""

from __future__ import annotations

import os
from typing import Any

from mwalign.paths import MTEB_CACHE_DIR, SOURCE_LANGUAGE

from .caches import import_mteb
from .langcodes import langscripts


def _mteb() -> Any:
    return import_mteb(os.environ.get("MTEB_CACHE", MTEB_CACHE_DIR))


def language_filter(params: dict[str, Any]) -> set[str] | None:
    """``iso639_3-Script`` codes a subset's languages must all be among; None: every subset.

    English, the training languages and the unseen languages, each under every code a
    dataset may use for it, in its own script (:func:`~.langcodes.langscripts`; so Arabic
    in Latin script or Chinese in traditional characters are left out).
    """
    if params["mteb_languages"] == "all":
        return None
    codes = [SOURCE_LANGUAGE, *params["languages"], *params["unseen_languages"]]
    return set().union(*(langscripts(code) for code in codes))


def mteb_task(name: str, params: dict[str, Any]) -> Any:
    """The mteb task ``name`` keeping only subsets whose every language passes the filter."""
    task = _mteb().get_task(name)
    allowed = language_filter(params)
    if allowed is None:
        return task
    subsets = task.metadata.hf_subsets_to_langscripts
    keep = [subset for subset, langs in subsets.items() if langs and set(langs) <= allowed]
    if not keep:
        raise ValueError(
            f"mteb task {name!r} has no subset in English, config.languages and "
            f"config.evaluate.unseen_languages ({sorted(allowed)}); its subsets: "
            f"{sorted(subsets)[:20]}; drop the task or set config.evaluate.mteb_languages: all"
        )
    task.hf_subsets = keep
    return task


def mteb_task_type(name: str) -> str:
    """mteb's task type (``BitextMining``, ``STS``, ``Classification``, ...) of a task name."""
    return str(_mteb().get_task(name).metadata.type)


def evaluation_split(eval_splits: list[str]) -> str:
    """The split a task is reported on: ``test`` when it has one, else its last eval split.

    mteb evaluates every split in a task's ``eval_splits`` (MassiveIntentClassification:
    validation and test; FloresBitextMining: devtest); aggregates and tests use this one.
    """
    if not eval_splits:
        raise ValueError("a task without eval_splits has no evaluation split")
    return "test" if "test" in eval_splits else list(eval_splits)[-1]


def mteb_evaluation_split(name: str) -> str:
    """:func:`evaluation_split` of an mteb task by name, from its metadata."""
    return evaluation_split(_mteb().get_task(name).metadata.eval_splits)
