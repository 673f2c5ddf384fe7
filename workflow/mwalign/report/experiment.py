"""The experiment a report describes: config hash, languages, students, versions, machine."""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

from mwalign.provenance import package_versions

HEADER_PACKAGES = ("torch", "transformers", "sentence-transformers", "mteb")


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the validated config, keys sorted (the same config gives the same hash)."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def experiment_facts(config: dict[str, Any]) -> dict[str, Any]:
    """What the report's header shows from the config (a params slice of the report rule)."""
    return {
        "config_hash": config_hash(config),
        "seed": config["seed"],
        "languages": list(config["languages"]),
        "unseen_languages": list(config["evaluate"]["unseen_languages"]),
        "students": {name: student["model"] for name, student in config["students"].items()},
    }


def machine() -> str:
    """CPU model (and GPU, when torch sees one) of the machine running this."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        if names:
            cpu = f"{names[0]} ({len(names)} logical CPUs)"
    try:
        import torch

        if torch.cuda.is_available():
            return f"{cpu}; GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{cpu}; no GPU"


def experiment_header(facts: dict[str, Any]) -> dict[str, Any]:
    """``facts`` with the versions of the main packages and the machine added."""
    versions = package_versions(HEADER_PACKAGES)
    return {**facts, "versions": versions, "machine": machine()}
