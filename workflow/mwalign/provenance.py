"""Seeds and provenance records shared by every stage."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
from typing import Any

TRACKED_PACKAGES = (
    "mwalign",
    "torch",
    "transformers",
    "sentence-transformers",
    "mteb",
    "pyarrow",
    "snakemake",
)


def derive_seed(seed: int, *keys: object) -> int:
    """A job's own seed: a stable 31-bit hash of the experiment seed and the job's keys.

    ``derive_seed(13, "translate", "de", 0)`` is the same on every machine and run,
    and different for every job, so jobs never share random streams.
    """
    text = "/".join([str(seed), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance(stage: str, config_slice: Any, seed: int | None = None, **extra: Any) -> dict:
    """What a stage writes next to its output: config slice, versions, seed, models."""
    record = {
        "stage": stage,
        "config": config_slice,
        "seed": seed,
        "python": platform.python_version(),
        "packages": package_versions(),
    }
    record.update(extra)
    return record
