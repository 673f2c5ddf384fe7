"""What every job does first: logging to its log file, its GPUs, thread count, caches in the
project (:func:`start_job`, called by workflow/scripts/mwalign_job.py before the stage's
code is imported), and which checkout's code it runs (:func:`code_folder`, logged as
"mwalign code from ..."; :func:`checkout_pythonpath` for processes it starts)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from mwalign.devices import claim_devices
from mwalign.paths import MTEB_CACHE_DIR

# Hugging Face and mteb caches live inside the project tree, never in the home folder.
PROJECT_CACHES = {
    "HF_HOME": "resources/hf",
    "MTEB_CACHE": MTEB_CACHE_DIR,
}


def point_caches_into(root: str | Path = ".") -> None:
    """Set the cache variables (unless the user set them) to folders under ``root``."""
    for name, relative in PROJECT_CACHES.items():
        os.environ.setdefault(name, str(Path(root, relative).resolve()))


def start_job(log_path: str | Path | None, threads: int = 1, *, gpus: int = 0) -> logging.Logger:
    """Log to ``log_path`` and stderr, take ``gpus`` devices (the rule's ``gpu`` resource),
    cap torch threads, log uncaught errors before dying.

    Call it before importing the stage's code: the devices are chosen (see
    :mod:`mwalign.devices`) before anything can initialise CUDA.
    """
    point_caches_into()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logger = logging.getLogger("mwalign")

    def log_uncaught(kind, value, traceback):
        logger.error("job failed: %s", value, exc_info=(kind, value, traceback))

    sys.excepthook = log_uncaught
    assignment = claim_devices(int(gpus), owner=str(log_path or ""))
    logger.info(assignment.describe())
    if assignment.devices is not None and _cuda_initialised():
        logger.warning("CUDA was initialised before start_job: this job may see other devices")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if "torch" in sys.modules or _torch_available():
        import torch

        torch.set_num_threads(max(1, int(threads)))
    logger.info("mwalign code from %s", code_folder())
    return logger


def code_folder() -> Path:
    """The folder this process imported mwalign from (its checkout's workflow/mwalign)."""
    import mwalign

    return Path(mwalign.__file__).resolve().parent


def checkout_pythonpath(pythonpath: str = "") -> str:
    """``pythonpath`` (a PYTHONPATH value) with this process's checkout's workflow/ first,
    for child processes that start with ``python -m mwalign...`` (torchrun's workers): they
    import the mwalign this process runs, never another installed copy."""
    entries = [entry for entry in pythonpath.split(os.pathsep) if entry]
    return os.pathsep.join([str(code_folder().parent), *entries])


def _torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def _cuda_initialised() -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and torch.cuda.is_initialized()
