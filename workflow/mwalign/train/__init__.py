"""Stage `train`: contrastive training of multilingual students on multi-way or En-X data.

Public entry points: :func:`train_params` (the config slice of one train job),
:func:`check_train_config` (parse-time validation), :func:`train_jobs` (job names),
:func:`train_run` (train one job and save a sentence-transformers folder) and
:func:`train_job` (the same, in this process or as several torchrun workers).
"""

from mwalign.train.config import check_train_config, train_jobs, train_params
from mwalign.train.launch import train_job
from mwalign.train.trainer import train_run

__all__ = ["check_train_config", "train_job", "train_jobs", "train_params", "train_run"]
