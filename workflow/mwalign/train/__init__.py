"""Stage `train`: contrastive training of multilingual students on multi-way or En-X data.

Public entry points: :func:`train_params` (the config slice of one train job),
:func:`check_train_config` (parse-time validation), :func:`train_jobs` (job names) and
:func:`train_run` (train one job and save a sentence-transformers folder).
"""

from mwalign.train.config import check_train_config, train_jobs, train_params
from mwalign.train.trainer import train_run

__all__ = ["check_train_config", "train_jobs", "train_params", "train_run"]
