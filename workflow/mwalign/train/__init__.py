"""Stage `train`: contrastive training of multilingual students on multi-way or En-X data.

Public entry points: :func:`train_params` (the config slice of one train job),
:func:`check_train_config` (parse-time validation), :func:`train_jobs` (job names),
:func:`train_run` (train one job and save a sentence-transformers folder) and
:func:`train_job` (the same, in this process or as several torchrun workers).

The last two import torch and sentence-transformers, so they are loaded on first use:
the workflow's parse step needs only the config functions.
"""

from __future__ import annotations

import importlib
from typing import Any

from mwalign.train.config import check_train_config, train_jobs, train_params

__all__ = ["check_train_config", "train_job", "train_jobs", "train_params", "train_run"]
_LAZY = {"train_job": "mwalign.train.launch", "train_run": "mwalign.train.trainer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
