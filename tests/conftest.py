"""Shared test helpers: configs built through the workflow's own validation; train fixtures."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from mwalign.config import validate_config

# The smallest experiment the schema accepts; make_config merges overrides into it.
BASE_CONFIG: dict[str, Any] = {
    "languages": ["de", "zh"],
    "students": {"tiny": {"model": "owner/tiny-student"}},
    "runs": {"multiway": {"student": "tiny", "data": "multiway"}},
}


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` over ``base`` (recursively for mappings), like Snakemake's update_config."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def make_config(
    overrides: dict[str, Any] | None = None, *, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A config validated and filled exactly as the workflow does it at parse time.

    ``overrides`` merge into ``base`` (default :data:`BASE_CONFIG`); mappings merge key
    by key, so ``{"runs": {...}}`` adds runs to the base run unless ``base`` says otherwise.
    """
    return validate_config(merge(BASE_CONFIG if base is None else base, overrides or {}))


def translate_section(settings: dict[str, Any], languages: list[str]) -> dict[str, Any]:
    """The ``translate`` section ``settings`` as validation fills it, for ``languages``.

    No unseen evaluation languages, so that any language may be a target here.
    """
    overrides = {"languages": languages, "translate": settings}
    return make_config({**overrides, "evaluate": {"unseen_languages": []}})["translate"]


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    import torch
    from test_train_fixtures import make_student

    torch.set_num_threads(1)
    return make_student(tmp_path_factory.mktemp("student") / "tiny")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    from test_train_fixtures import make_datasets

    return make_datasets(tmp_path_factory.mktemp("data"))
