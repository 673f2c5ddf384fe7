"""Run the real workflow on a tiny config in a temporary folder."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from mwalign.files import file_sha256

ROOT = Path(__file__).resolve().parents[1]


def tiny_student(folder: Path) -> Path:
    """A 2-layer BERT with the real XLM-R tokenizer, saved as a sentence-transformers folder."""
    from test_train_fixtures import make_student

    if (folder / "modules.json").exists():
        return folder
    return make_student(folder)


def tiny_config(workdir: Path, student: Path, **overrides) -> Path:
    """Write a tiny experiment config (64 sentences, two languages, 3 steps) into workdir."""
    config = {
        "seed": 7,
        "languages": ["de", "zh"],
        "corpus": {"source": "bible", "size": 64, "bible": {"edition": "4", "books": [1, 39]}},
        "translate": {
            "backend": "reference",
            "shard_size": 40,
            "reference": {"editions": {"de": "e", "zh": "c"}},
        },
        "students": {"tiny": {"model": str(student), "prefix": "", "max_seq_length": 48}},
        "train": {"steps": 3, "batch_ids": 8},
        "runs": {
            "multiway": {"student": "tiny", "data": "multiway", "objective": "infonce"},
            "enx": {"student": "tiny", "data": "enx", "objective": "infonce"},
        },
        "evaluate": {
            "tasks": ["BibleBitextMining"],
            "unseen_languages": ["fr", "sw"],
            "bible": {"english_edition": "2", "books": [40, 66], "size": 60},
        },
    }
    for key, value in overrides.items():
        config[key] = value
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(
    workdir: Path,
    *args: str,
    check: bool = True,
    snakefile: Path = ROOT / "Snakefile",
    env: dict[str, str] | None = None,
    configfiles: list[Path] | None = None,
) -> subprocess.CompletedProcess:
    """Run snakemake on ``snakefile`` (the project's) with workdir as working directory.

    ``env`` replaces this process's environment (HF_HUB_OFFLINE is always set);
    ``configfiles`` are given with --configfile (default: workdir's config.yaml; none:
    the Snakefile's own ``configfile:``, the working folder's config.yaml).
    """
    if configfiles is None:
        configfiles = [workdir / "config.yaml"]
    env = {**(os.environ if env is None else env), "HF_HUB_OFFLINE": "1"}
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(snakefile),
        "--directory",
        str(workdir),
        *(["--configfile", *map(str, configfiles)] if configfiles else []),
        "--cores",
        "2",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule name -> job count that a dry run (with extra snakemake ``args``) would execute now."""
    result = snakemake(workdir, "--dry-run", *args)
    return job_counts(result.stdout + result.stderr)


def job_counts(output: str) -> dict[str, int]:
    """Rule name -> job count in the job stats of a dry run's ``output``."""
    if "Nothing to be done" in output:
        return {}
    table = output.split("Job stats:")[1]
    jobs = {}
    for line in table.splitlines()[3:]:
        match = re.match(r"^(\S+)\s+(\d+)\s*$", line)
        if match and match.group(1) != "total":
            jobs[match.group(1)] = int(match.group(2))
        elif jobs and not line.strip():
            break
    return jobs


@contextlib.contextmanager
def edited_config(workdir: Path, edit: Callable[[dict[str, Any]], None]) -> Iterator[Path]:
    """Apply ``edit`` to workdir's config.yaml in place; restore the original text on exit."""
    path = workdir / "config.yaml"
    original = path.read_text()
    config = yaml.safe_load(original)
    edit(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        yield path
    finally:
        path.write_text(original)


# The Parquet data files of the stages before training, relative to the working folder.
DATA_FILE_PATTERNS = (
    "results/corpus/*.parquet",
    "results/translations/*/*.parquet",
    "results/dataset/*.parquet",
    "results/teacher/*.parquet",
)


def data_file_hashes(workdir: Path) -> dict[str, str]:
    """Relative path -> sha256 of every stage data file matching DATA_FILE_PATTERNS."""
    hashes = {}
    for pattern in DATA_FILE_PATTERNS:
        for path in sorted(workdir.glob(pattern)):
            hashes[str(path.relative_to(workdir))] = file_sha256(path)
    return hashes


# JSON written beside those data files; they also record how long the stage took.
SIDE_FILE_PATTERNS = (
    "results/corpus/stats.json",
    "results/translations/*/*.stats.json",
    "results/dataset/card.json",
    "results/teacher/*.json",
)
TIMING_KEY = re.compile(r"seconds|per_second|runtime|^date$")


def without_timings(value: Any) -> Any:
    """``value`` with every dict key that names a duration, rate or date left out."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not TIMING_KEY.search(k)}
    if isinstance(value, list):
        return [without_timings(item) for item in value]
    return value


def side_file_contents(workdir: Path) -> dict[str, Any]:
    """Relative path -> parsed content, timings left out, of every SIDE_FILE_PATTERNS file."""
    contents = {}
    for pattern in SIDE_FILE_PATTERNS:
        for path in sorted(workdir.glob(pattern)):
            data = json.loads(path.read_text())
            contents[str(path.relative_to(workdir))] = without_timings(data)
    return contents


# What a repaired run must give byte-identical to the first run.
REPORT_FILES = ("results/report/summary.md", "results/report/scores.parquet")


def report_bytes(workdir: Path) -> dict[str, bytes]:
    """The bytes of the report's summary and scores: a repaired run must give the same."""
    return {name: (workdir / name).read_bytes() for name in REPORT_FILES}


def flip_bytes(path: Path, count: int = 16) -> None:
    """Overwrite ``count`` bytes in the middle of ``path`` (its size stays the same)."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.seek(size // 2)
        old = handle.read(count)
        handle.seek(size // 2)
        handle.write(bytes(b ^ 0xFF for b in old))


def dry_run(workdir: Path, *args: str) -> tuple[dict[str, int], str]:
    """Jobs a plain dry run plans, and its whole output."""
    result = snakemake(workdir, "--dry-run", *args)
    output = result.stdout + result.stderr
    return job_counts(output), output
