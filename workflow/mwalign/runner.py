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
    watched = end_with_workflow()
    if watched is not None:
        logger.info("this job stops if the workflow process %d ends", watched)
    return logger


def workflow_pid(start: int | None = None, levels: int = 6) -> int | None:
    """The pid of the snakemake process that started this job: the nearest ancestor whose
    command runs snakemake (``python -m snakemake``, ``.../bin/snakemake``); None if none."""
    pid = os.getppid() if start is None else start
    for _ in range(levels):
        if pid <= 1:
            return None
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        names = [Path(arg.decode(errors="replace")).name for arg in args if arg]
        if "snakemake" in names or any(
            a == "-m" and b == "snakemake" for a, b in zip(names, names[1:], strict=False)
        ):
            return pid
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return None


def end_with_workflow(interval: float = 1.0) -> int | None:
    """Stop this job (SIGTERM to itself, and to its process group when it leads one) once
    the snakemake process that started it is gone, e.g. killed with SIGKILL: a job never
    runs on as an orphan. Returns the watched pid (None: not started by snakemake)."""
    import signal
    import threading
    import time

    pid = workflow_pid()
    if pid is None:
        return None

    def watch() -> None:
        while Path(f"/proc/{pid}").exists():
            time.sleep(interval)
        logging.getLogger("mwalign").error(
            "the workflow process %d ended: stopping this job (a rerun starts it again)", pid
        )
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="end-with-workflow", daemon=True).start()
    return pid


def remove_leftovers(root: str | Path = ".") -> list[Path]:
    """Delete what killed jobs leave under ``root``/results: temporary files of atomic writes
    (``.{name}.*.tmp``) and the evaluations' temporary folders (results/eval/.cache/*/tmp*).
    Only the process that holds the run lock calls it, before any job starts."""
    import shutil

    results = Path(root, "results")
    removed = []
    for path in sorted(results.glob("**/.*.tmp")):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    for path in sorted(results.glob("eval/.cache/*/tmp*")):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def record_outputs_at_exit(outputs: list[str], params: dict) -> None:
    """When the job's process ends without an uncaught exception, record each of its
    outputs under results/ (:func:`mwalign.products.write_records`): what the workflow's
    parse step checks every product against."""
    import atexit

    failed = []
    previous = sys.excepthook

    def note_failure(kind, value, traceback):
        failed.append(kind)
        previous(kind, value, traceback)

    def record() -> None:
        if failed:
            return
        from mwalign.products import write_records

        try:
            write_records(outputs, params)
        except Exception as err:  # noqa: BLE001 - a missing record only weakens a later check
            logging.getLogger("mwalign").warning("could not record the outputs: %s", err)

    sys.excepthook = note_failure
    atexit.register(record)


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
