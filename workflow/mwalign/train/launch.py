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
from collections.abc import Sequence
from pathlib import Path

import mwalign
from mwalign.devices import VISIBLE_VARIABLE, held_lock_fds
from mwalign.train.trainer import train_run

log = logging.getLogger(__name__)


def torchrun_command(
    processes: int,
    params_path: Path,
    dataset_path: Path,
    student_path: Path,
    out_dir: Path,
    teacher_path: Path | None = None,
    log_dir: Path | None = None,
    *,
    report_to: Sequence[str] = (),
) -> list[str]:
    """The argument list that runs ``mwalign.train`` on ``processes`` local workers."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", str(processes), "-m", "mwalign.train"]
    command += ["--params", str(params_path), "--dataset", str(dataset_path)]
    command += ["--student", str(student_path), "--out", str(out_dir)]
    if teacher_path is not None:
        command += ["--teacher", str(teacher_path)]
    if log_dir is not None:
        command += ["--log-dir", str(log_dir)]
    for tracker in report_to:
        command += ["--report-to", tracker]
    return command


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
    *,
    params: dict,
    dataset_path: str | os.PathLike,
    student_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    teacher_path: str | os.PathLike | None = None,
    log_dir: str | os.PathLike | None = None,
    processes: int = 1,
    threads: int = 1,
    log_path: str | os.PathLike | None = None,
    report_to: Sequence[str] = (),
) -> None:
    """Train one run with ``processes`` data-parallel workers (1: in this process).

    With several workers each gets ``threads // processes`` CPU threads and their output
    is appended to ``log_path``; a failed worker fails the job with its exit status.
    """
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    if processes == 1:
        train_run(
            params=params,
            dataset_path=dataset_path,
            student_path=student_path,
            out_dir=out_dir,
            teacher_path=teacher_path,
            log_dir=log_dir,
            report_to=report_to,
        )
        return
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    params_path = out_dir.parent / f".{out_dir.name}.params.json"
    params_path.write_text(json.dumps(params, indent=1, sort_keys=True))
    command = torchrun_command(
        processes,
        params_path,
        Path(dataset_path),
        Path(student_path),
        out_dir,
        teacher_path and Path(teacher_path),
        log_dir and Path(log_dir),
        report_to=report_to,
    )
    check_device_count(processes)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(max(1, threads // processes)),
        # the workers import this process's mwalign (its checkout), not the installed one
        "PYTHONPATH": os.pathsep.join(
            [str(Path(mwalign.__file__).resolve().parents[1])]
            + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ),
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
