"""One run per working folder: a live run holds a lock that a second run is told about.

Snakemake locks the files a run will write, but it checks for jobs a run left unfinished
before it takes that lock, so a second ``snakemake`` started in a folder where one is
running is told to rerun the first one's jobs with ``--rerun-incomplete``. Here the run
that executes jobs holds an OS lock (``flock``) on ``.snakemake/mwalign-run.lock`` for as
long as its process lives (no stale lock after a crash or a kill), and every later parse
of the workflow in that folder stops at once, saying which process holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import IO

from mwalign.paths import RUN_LOCK_FILE as LOCK_FILE

_held: dict[str, IO[str]] = {}  # lock path -> open file, kept open while this process runs


class FolderInUse(RuntimeError):
    """Another live run holds the working folder."""


def _message(path: Path, holder: str) -> str:
    try:
        info = json.loads(holder)
        who = (
            f"process {info['pid']} on {info['host']}, started "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info['started']))}: "
            f"{info['command']}"
        )
        stop = f"stop it (kill {info['pid']})"
    except (ValueError, KeyError, TypeError):
        who, stop = "another process", "stop it"
    return (
        f"another snakemake run is working in {path.parent.parent.resolve()} ({who}). "
        f"Wait for it to finish, or {stop}, then start this one again; nothing was started "
        "or changed (a dry run too). Its unfinished jobs are not incomplete: do not use "
        "--rerun-incomplete or --unlock while it runs."
    )


def refuse_if_held(folder: str | os.PathLike = ".") -> None:
    """Raise FolderInUse if a live process holds ``folder``'s run lock; otherwise return."""
    path = Path(folder) / LOCK_FILE
    if str(path.resolve()) in _held or not path.is_file():
        return
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderInUse(_message(path, handle.read())) from None
        except OSError:  # a file system without flock: Snakemake's own lock still applies
            return
        fcntl.flock(handle, fcntl.LOCK_UN)


def hold(folder: str | os.PathLike = ".") -> None:
    """Take ``folder``'s run lock for the rest of this process; FolderInUse if another has it."""
    path = Path(folder) / LOCK_FILE
    key = str(path.resolve())
    if key in _held:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - stays open (and locked) until the process ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read()
        handle.close()
        raise FolderInUse(_message(path, holder)) from None
    except OSError:
        handle.close()
        return
    handle.seek(0)
    handle.truncate()
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time(),
        "command": " ".join(sys.argv),
    }
    handle.write(json.dumps(record))
    handle.flush()
    _held[key] = handle


def release(folder: str | os.PathLike = ".") -> None:
    """Give the run lock back (the end of the process does it too)."""
    handle = _held.pop(str((Path(folder) / LOCK_FILE).resolve()), None)
    if handle is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
