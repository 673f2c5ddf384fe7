"""File names and paths shared by several stages: the one place each is written, and the check
that a name may become one.

Paths are relative to the working directory (the project root in a workflow run).
"""

from __future__ import annotations

import re

from mwalign.errors import ConfigError

# What a name must look like to become a file or folder name (runs, students, GGUF path
# parts): letters, digits, '.', '_' and '-', starting with a letter or digit.
# Matched whole (fullmatch, \Z): "abc\n" is not a name.
SAFE_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]*\Z")
# Longest run or student name: it becomes file names ({run}-seed{k}, .{run}.work, ...)
# that must stay under the file systems' 255 bytes.
MAX_NAME_LENGTH = 64


def check_name(kind: str, name: str) -> None:
    """Run, student and task names become file names: letters, digits, '.', '_', '-'."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise ConfigError(
            f"{kind} name {name!r} is not allowed; use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit)"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError(
            f"{kind} name {name[:20]!r}... has {len(name)} characters; at most "
            f"{MAX_NAME_LENGTH} are allowed (mwalign.paths.MAX_NAME_LENGTH): it becomes file names"
        )


# The language every corpus sentence is written in; the target languages are configured.
SOURCE_LANGUAGE = "en"

# Materialised models: one folder per model id, named by mwalign.models.ids.model_slug.
MODELS_DIR = "resources/models"
# The record beside every materialised model (model id, source, provenance, trust).
MODEL_INFO_FILE = "mwalign_model.json"
# The record beside every trained model (params, provenance, results).
RUN_INFO_FILE = "mwalign_run.json"
# The training loss per logged step, written by train into every trained model's folder.
LOSS_CURVE_FILE = "loss_curve.csv"
# The dev loss and accuracy per evaluation, beside it when the run evaluates on dev.
DEV_CURVE_FILE = "dev_curve.csv"
# In a swept run's model folder: every point's dev metric and the point chosen on dev.
SWEEP_INFO_FILE = "mwalign_sweep.json"
# Per-item evaluation outputs beside each result JSON: results/eval/{model}/{task}.items.parquet.
ITEMS_SUFFIX = ".items.parquet"
# mteb's cache (task names, downloaded datasets) inside the project tree.
MTEB_CACHE_DIR = "resources/mteb"
# Name prefix of the evaluation of a student before training: base-{student}.
BASE_PREFIX = "base-"
# Workstation GPU slots: one lock file per device (mwalign.devices).
GPU_SLOTS_DIR = ".snakemake/gpu-slots"
# Held (flock) by the run that executes jobs in a working folder (mwalign.runlock).
RUN_LOCK_FILE = ".snakemake/mwalign-run.lock"
# What each job wrote under results/ (size, rows, sha256, made from): mwalign.products.
PRODUCT_RECORDS_DIR = ".snakemake/mwalign-records"
# CTranslate2 copies of translators (rule convert_ctranslate2), one folder per model_slug.
CT2_DIR = "resources/ctranslate2"
# The similarity check's side file of a translation shard: {shard}.similarity.parquet.
SIMILARITY_SUFFIX = ".similarity.parquet"
# Counts of the parse-time checks (usable verses), kept between runs (mwalign.bible).
CHECKS_CACHE_DIR = "resources/checks"
