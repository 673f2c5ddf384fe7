"""Stage `train`: contrastive training of multilingual students on multi-way or En-X data.

Public entry points: :func:`check_train_config` (parse-time cross-field checks),
:func:`train_run` (train one job and save a sentence-transformers folder) and
:func:`train_job` (the same, in this process or as several torchrun workers).

The last two import torch and sentence-transformers, so they are loaded on first use:
the workflow's parse step needs only the checks. Job names and each job's params
slice come from :mod:`mwalign.plan` (``train_jobs``, ``train_params``).
"""

from __future__ import annotations

import importlib
from typing import Any

from mwalign.train.config import check_train_config

__all__ = ["check_train_config", "train_job", "train_run"]
_LAZY = {"train_job": "mwalign.train.launch", "train_run": "mwalign.train.trainer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
