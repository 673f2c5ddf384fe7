"""GPU devices of a job: slots of their own on a workstation, the scheduler's choice elsewhere.

On a workstation Snakemake counts GPUs (the profile's ``resources: gpu``) but does not say
which device a job may use, so every job would open ``cuda:0``. Here the workflow's main
process publishes its device pool (:func:`export_gpu_slots`) and each job that asks for
``gpu=k`` takes k free slots for its whole life (:func:`claim_devices`), exporting them as
``CUDA_VISIBLE_DEVICES`` before torch initialises CUDA.

A slot is an exclusive ``flock`` on one file per device under the pool's lock folder.
Such a lock belongs to the open file, so it ends with the process that holds it: a job
that finishes, fails or is killed (even with SIGKILL) frees its slots, and no stale lock
is ever left to clean up. A job takes all of its slots or none, so two multi-GPU jobs
never each hold part of what the other waits for.

The pool: the first ``gpu`` devices the workflow can see, i.e. of ``CUDA_VISIBLE_DEVICES``
when the workflow was started with it (``CUDA_VISIBLE_DEVICES=2,3 snakemake ...``),
otherwise ``0 .. gpu-1``. A job that runs on another host or in another SLURM job than
the workflow (a job the scheduler placed) keeps the scheduler's assignment untouched, as
does every job of a workflow started without a ``gpu`` resource.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import random
import re
import socket
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from mwalign.paths import GPU_SLOTS_DIR

log = logging.getLogger(__name__)

SLOTS_VARIABLE = "MWALIGN_GPU_SLOTS"  # the pool, as JSON, set by the workflow's main process
VISIBLE_VARIABLE = "CUDA_VISIBLE_DEVICES"
_DEVICE_ID = re.compile(r"[A-Za-z0-9_-]+")  # an index, or a GPU-/MIG- UUID
_HELD: list[tuple[str, int]] = []  # (device, lock fd) held by this process


@dataclass(frozen=True)
class SlotPool:
    """The workstation's GPUs as the workflow sees them, and where their locks live."""

    devices: tuple[str, ...]
    lock_dir: str
    host: str
    slurm_job: str | None

    def to_json(self) -> str:
        return json.dumps(
            {
                "devices": list(self.devices),
                "lock_dir": self.lock_dir,
                "host": self.host,
                "slurm_job": self.slurm_job,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> SlotPool:
        data = json.loads(text)
        return cls(tuple(data["devices"]), data["lock_dir"], data["host"], data["slurm_job"])


@dataclass(frozen=True)
class Assignment:
    """What a job was given: ``mode`` is slots, hidden, scheduler or inherited."""

    mode: str
    devices: tuple[str, ...] | None  # None: CUDA_VISIBLE_DEVICES left as it was
    waited_seconds: float = 0.0
    note: str = ""

    def describe(self) -> str:
        visible = os.environ.get(VISIBLE_VARIABLE)
        shown = "unset" if visible is None else repr(visible)
        if self.mode == "slots":
            return (
                f"GPU slots: devices {','.join(self.devices)} (CUDA_VISIBLE_DEVICES={shown}), "
                f"waited {self.waited_seconds:.1f} s"
            )
        if self.mode == "hidden":
            return "GPU slots: none for this job (gpu=0); CUDA_VISIBLE_DEVICES=''"
        return f"GPUs: {self.note}; CUDA_VISIBLE_DEVICES {shown}, left as it was"


def workflow_devices(gpus: int, visible: str | None) -> list[str]:
    """The pool of a workflow with ``gpus`` GPUs that sees ``visible`` (CUDA_VISIBLE_DEVICES).

    Raises ValueError when fewer devices are visible than ``gpus`` or an id is malformed.
    """
    if visible is None:
        return [str(index) for index in range(gpus)]
    listed = [item.strip() for item in visible.split(",") if item.strip()]
    bad = [item for item in listed if not _DEVICE_ID.fullmatch(item)]
    if bad:
        raise ValueError(
            f"CUDA_VISIBLE_DEVICES={visible!r}: {bad[0]!r} is not a device index or UUID"
        )
    if len(listed) < gpus:
        raise ValueError(
            f"the profile's resources gpu={gpus}, but CUDA_VISIBLE_DEVICES={visible!r} names "
            f"{len(listed)} device(s); lower resources gpu to {len(listed)} or make more "
            "devices visible"
        )
    return listed[:gpus]


def export_gpu_slots(
    *,
    gpus: int | None,
    lock_dir: str | os.PathLike = GPU_SLOTS_DIR,
    environ: MutableMapping = os.environ,
) -> SlotPool | None:
    """Publish the workflow's device pool to its jobs (they inherit ``environ``).

    ``gpus`` is the workflow's ``gpu`` resource (None or 0: no pool, jobs keep whatever
    devices they inherit). A workflow started with ``CUDA_VISIBLE_DEVICES=''`` has no GPU
    and publishes no pool either. Returns the pool, or None.
    """
    environ.pop(SLOTS_VARIABLE, None)  # never a pool left over from an enclosing run
    visible = environ.get(VISIBLE_VARIABLE)
    if not gpus or (visible is not None and not visible.strip()):
        return None
    pool = SlotPool(
        devices=tuple(workflow_devices(gpus, visible)),
        lock_dir=str(Path(lock_dir).resolve()),
        host=socket.gethostname(),
        slurm_job=environ.get("SLURM_JOB_ID"),
    )
    environ[SLOTS_VARIABLE] = pool.to_json()
    log.info("GPU slots of this workflow: devices %s", ",".join(pool.devices))
    return pool


def _placed_elsewhere(pool: SlotPool, environ: MutableMapping) -> str | None:
    """Why this job's devices are not the workflow's to give (None: they are)."""
    if socket.gethostname() != pool.host:
        return f"job on host {socket.gethostname()}, not the workflow's {pool.host}"
    job = environ.get("SLURM_JOB_ID")
    if job is not None and job != pool.slurm_job:
        return f"SLURM job {job} keeps the scheduler's assignment"
    return None


def claim_devices(
    gpus: int,
    *,
    owner: str = "",
    environ: MutableMapping = os.environ,
    poll_seconds: float = 0.5,
    report_every: float = 60.0,
) -> Assignment:
    """Give this process ``gpus`` devices of its own and export them as CUDA_VISIBLE_DEVICES.

    Call it before anything initialises CUDA. Waits while all slots are taken (logging who
    holds them every ``report_every`` seconds). ``owner`` is written into the lock files,
    so a waiting job can say what it waits for. The slots are held until the process
    ends or :func:`release_devices` is called.
    """
    text = environ.get(SLOTS_VARIABLE)
    if text is None:
        return Assignment("inherited", None, note="no workstation GPU slots in this workflow")
    pool = SlotPool.from_json(text)
    elsewhere = _placed_elsewhere(pool, environ)
    if elsewhere:
        return Assignment("scheduler", None, note=elsewhere)
    if gpus < 0:
        raise ValueError(f"resources gpu={gpus}; allowed: an integer >= 0")
    if gpus == 0:  # the job holds no slot, so it must not open a device another job holds
        environ[VISIBLE_VARIABLE] = ""
        return Assignment("hidden", ())
    if gpus > len(pool.devices):
        raise ValueError(
            f"this job asks for resources gpu={gpus}, but the workflow has {len(pool.devices)} "
            f"GPU slot(s) (devices {','.join(pool.devices)}); lower the rule's gpu resource "
            f"or raise the profile's resources gpu"
        )
    started = time.monotonic()
    reported = started
    Path(pool.lock_dir).mkdir(parents=True, exist_ok=True)
    while not _try_take(pool, gpus, owner):
        now = time.monotonic()
        if now - reported >= report_every:
            log.info("waiting for %d GPU slot(s): %s", gpus, _holders(pool))
            reported = now
        time.sleep(poll_seconds * random.uniform(0.5, 1.5))  # jitter: waiting jobs don't align
    devices = tuple(device for device, _ in _HELD)
    environ[VISIBLE_VARIABLE] = ",".join(devices)
    return Assignment("slots", devices, waited_seconds=time.monotonic() - started)


def _lock_path(pool: SlotPool, device: str) -> Path:
    return Path(pool.lock_dir) / f"gpu-{device}.lock"


def _try_take(pool: SlotPool, gpus: int, owner: str) -> bool:
    """Lock ``gpus`` free slots, all or none; True when this process now holds them."""
    if _HELD:
        raise RuntimeError(f"this process already holds GPU slots {[d for d, _ in _HELD]}")
    taken: list[tuple[str, int]] = []
    for device in pool.devices:
        fd = os.open(_lock_path(pool, device), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        taken.append((device, fd))
        if len(taken) == gpus:
            break
    if len(taken) < gpus:
        for _, fd in taken:
            os.close(fd)  # closing the file drops its lock
        return False
    for _, fd in taken:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} {owner}\n".encode())
    _HELD.extend(taken)
    return True


def _holders(pool: SlotPool) -> str:
    """Who holds each slot, as the lock files say (a free slot reads as free)."""
    parts = []
    for device in pool.devices:
        path = _lock_path(pool, device)
        holder = "free"
        with contextlib.suppress(OSError), open(path) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = handle.read().strip() or "held"
        parts.append(f"gpu {device}: {holder}")
    return "; ".join(parts)


def held_lock_fds() -> list[int]:
    """File descriptors of this process's slot locks (a child given them keeps the slots)."""
    return [fd for _, fd in _HELD]


def release_devices() -> None:
    """Give this process's slots back (they are also given back when it exits)."""
    while _HELD:
        _, fd = _HELD.pop()
        os.close(fd)
