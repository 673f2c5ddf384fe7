"""Start one train job: in this process, or as ``processes`` torchrun workers on one node.

The train rule asks for ``gpu=N``; with N > 1 the job runs ``torchrun --standalone
--nproc_per_node N -m mwalign.train`` (see :mod:`mwalign.train.__main__`), one process
per device, and the losses gather embeddings so the contrastive batch stays global.
The workers inherit the job's ``CUDA_VISIBLE_DEVICES`` (its GPU slots, see
:mod:`mwalign.devices`) and torchrun holds the slot locks while it runs, so the devices
stay reserved until the workers are gone even if this process dies first.
The command is a list of arguments, never a shell string.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from mwalign.devices import VISIBLE_VARIABLE, held_lock_fds
from mwalign.runner import checkout_pythonpath
from mwalign.train.job import TrainJob
from mwalign.train.trainer import train_run

log = logging.getLogger(__name__)


def torchrun_command(processes: int, job: TrainJob, params_path: Path) -> list[str]:
    """The argument list that runs ``job`` with ``mwalign.train`` on ``processes`` local
    workers; ``params_path`` is the JSON file that holds its params."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", str(processes), "-m", "mwalign.train"]
    return command + job.argv(params_path)


def check_device_count(processes: int) -> None:
    """On a GPU machine, raise ValueError when the job sees fewer devices than workers."""
    import torch

    if not torch.cuda.is_available():
        return  # CPU workers (gloo): no devices to count
    count = torch.cuda.device_count()
    if count < processes:
        raise ValueError(
            f"train job with gpu={processes} sees {count} device(s) "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get(VISIBLE_VARIABLE)!r}); each torchrun "
            "worker needs its own GPU"
        )


def train_job(
    job: TrainJob,
    *,
    processes: int = 1,
    threads: int = 1,
    log_path: str | os.PathLike | None = None,
) -> None:
    """Train ``job`` with ``processes`` data-parallel workers (1: in this process).

    With several workers each gets ``threads // processes`` CPU threads and their output
    is appended to ``log_path``; a failed worker fails the job with its exit status.
    """
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    if processes == 1:
        train_run(job)
        return
    job.out_dir.parent.mkdir(parents=True, exist_ok=True)
    params_path = job.out_dir.parent / f".{job.out_dir.name}.params.json"
    params_path.write_text(json.dumps(job.params, indent=1, sort_keys=True))
    command = torchrun_command(processes, job, params_path)
    check_device_count(processes)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(max(1, threads // processes)),
        # the workers import this process's mwalign (its checkout), not the installed one
        "PYTHONPATH": checkout_pythonpath(os.environ.get("PYTHONPATH", "")),
    }
    devices = env.get(VISIBLE_VARIABLE, "all")
    log.info(
        "launching %d training processes on devices %s: %s", processes, devices, " ".join(command)
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    with contextlib.ExitStack() as stack:  # no log file: the workers write to our output
        sink = stack.enter_context(open(log_path, "a")) if log_path else None
        done = subprocess.run(
            command,
            env=env,
            stdout=sink,
            stderr=sink and subprocess.STDOUT,
            pass_fds=held_lock_fds(),  # torchrun keeps this job's GPU slots while it runs
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"torchrun with {processes} processes failed (exit {done.returncode}); "
            f"see {log_path or 'its output'}"
        )
    params_path.unlink(missing_ok=True)
