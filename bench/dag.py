"""Time Snakemake's DAG build (a dry run) on a large experiment grid.

The grid is generated from experiments/paper.yaml: its students (3) x every training
objective (4) x both data modes (2) = 24 runs, 20 evaluation tasks (mteb task names
that mteb knows offline), its 6 languages with 100 translation shards each (corpus size
= 100 x translate.shard_size). Each repeat dry-runs it in a fresh empty folder, so every
job is planned:

    python -m snakemake --snakefile Snakefile --configfile GRID --directory TMP -n --quiet rules

    python bench/dag.py                   # median of 3 dry runs
    python bench/dag.py --profile 25      # plus a cProfile run: top 25 entries, ours first

Where SLURM's `scontrol` is on PATH, snakemake-executor-plugin-slurm (the `slurm`
extra) runs `scontrol show config` whenever Snakemake starts, which waits up to 10 s when
no SLURM controller answers. The dry runs are then timed twice: as they are, and with a
stub `scontrol` that fails at once (the workflow's own cost).

Prints a JSON summary (wall seconds per repeat and median, job counts per rule) and
writes it to results/bench/dag.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("bench.dag")
ROOT = Path(__file__).resolve().parents[1]
OBJECTIVES = ["infonce", "soft", "similarity_mse", "embedding_mse"]
DATA_MODES = ["multiway", "enx"]
# Real mteb task names (mteb.get_tasks() knows them without the network): the paper
# experiment's nine, then more multilingual bitext, STS, classification, pair
# classification, clustering and retrieval tasks.
MTEB_TASKS = [
    "Tatoeba",
    "BUCC.v2",
    "FloresBitextMining",
    "STS17",
    "STS22.v2",
    "STSBenchmarkMultilingualSTS",
    "MassiveIntentClassification",
    "SIB200Classification.v3",
    "AmazonCounterfactualClassification",
    "NTREXBitextMining",
    "DiaBlaBitextMining",
    "MassiveScenarioClassification",
    "MTOPDomainClassification",
    "MTOPIntentClassification",
    "MultilingualSentimentClassification",
    "SemRel24STS",
    "PawsXPairClassification",
    "XNLI",
    "SIB200ClusteringS2S",
    "BelebeleRetrieval",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--base", type=Path, default=ROOT / "experiments" / "paper.yaml")
    parser.add_argument("--tasks", type=int, default=20, help=f"at most {len(MTEB_TASKS)}")
    parser.add_argument("--shards", type=int, default=100, help="translation shards per language")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="also profile one run; show top N"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "dag.json")
    return parser.parse_args(argv)


def grid_config(base: Path, tasks: int, shards: int) -> dict[str, Any]:
    """The base experiment with every student x objective x data mode as a run."""
    if not 1 <= tasks <= len(MTEB_TASKS):
        raise ValueError(f"--tasks {tasks}: allowed 1 to {len(MTEB_TASKS)}")
    config = yaml.safe_load(base.read_text())
    config["runs"] = {
        f"{student}-{data}-{objective}": {"student": student, "data": data, "objective": objective}
        for student in config["students"]
        for objective in OBJECTIVES
        for data in DATA_MODES
    }
    config["corpus"]["size"] = shards * config["translate"]["shard_size"]
    config["evaluate"]["tasks"] = MTEB_TASKS[:tasks]
    return config


def dry_run_command(config_path: Path, workdir: Path) -> list[str]:
    return [
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--configfile",
        str(config_path),
        "--directory",
        str(workdir),
        "--dry-run",
        "--quiet",
        "rules",
    ]


def job_counts(output: str) -> dict[str, int]:
    """Rule name -> planned jobs, from the 'Job stats' table of a dry run."""
    if "Job stats:" not in output:
        raise RuntimeError(f"no job table in the dry run's output:\n{output[-3000:]}")
    counts = {}
    for line in output.split("Job stats:")[1].splitlines()[3:]:
        match = re.match(r"^(\S+)\s+(\d+)\s*$", line)
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    return counts


def scontrol_probe_seconds() -> float | None:
    """Seconds `scontrol show config` takes (the slurm plugin's start-up probe), if present."""
    if shutil.which("scontrol") is None:
        return None
    start = time.perf_counter()
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=10)
    return round(time.perf_counter() - start, 3)


def stub_scontrol(folder: Path) -> dict[str, str]:
    """Environment whose PATH finds a `scontrol` in ``folder`` that fails at once."""
    stub = folder / "scontrol"
    stub.write_text("#!/bin/sh\nexit 1\n")
    stub.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


def timed_dry_run(
    config_path: Path, prefix: list[str] | None = None, env_extra: dict[str, str] | None = None
) -> tuple[float, str]:
    """Wall seconds and combined output of one dry run in a fresh empty folder."""
    # The grid needs the hub (its corpus, models and mteb data): with HF_HUB_OFFLINE set the
    # parse step would stop at once. Parsing never uses the network either way.
    env = {key: value for key, value in os.environ.items() if key != "HF_HUB_OFFLINE"}
    env.update(env_extra or {})
    with tempfile.TemporaryDirectory(prefix="dag-") as workdir:
        command = [sys.executable, *(prefix or []), *dry_run_command(config_path, Path(workdir))]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
        seconds = time.perf_counter() - start
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"dry run failed ({result.returncode}):\n{output[-3000:]}")
    return seconds, output


def profile_rows(stats_path: Path, top: int) -> dict[str, list[dict[str, Any]]]:
    """Top entries by cumulative time: the project's own code, and everything."""
    stats = pstats.Stats(str(stats_path))
    rows = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():
        rows.append(
            {
                "function": f"{filename}:{line}({name})",
                "calls": calls,
                "own_s": round(own, 3),
                "cumulative_s": round(cumulative, 3),
                "ours": str(ROOT) in filename and "/.venv" not in filename,
            }
        )
    rows.sort(key=lambda row: row["cumulative_s"], reverse=True)
    return {
        "ours": [row for row in rows if row["ours"]][:top],
        "all": rows[:top],
    }


def timed_series(
    config_path: Path, repeats: int, label: str, env_extra: dict[str, str] | None = None
) -> tuple[list[float], dict[str, int]]:
    """Wall seconds of ``repeats`` dry runs and the job counts they planned."""
    seconds, counts = [], {}
    for repeat in range(repeats):
        wall, output = timed_dry_run(config_path, env_extra=env_extra)
        seconds.append(round(wall, 3))
        counts = job_counts(output)
        total = counts["total"]
        log.info("%s dry run %d/%d: %.2f s, %d jobs", label, repeat + 1, repeats, wall, total)
    return seconds, counts


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args(argv)
    config = grid_config(args.base, args.tasks, args.shards)
    probe = scontrol_probe_seconds()
    with tempfile.TemporaryDirectory(prefix="dag-config-") as folder:
        config_path = Path(folder) / "grid.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        seconds, counts = timed_series(config_path, args.repeats, "as is")
        stubbed_env = stub_scontrol(Path(folder)) if probe is not None else None
        stubbed = None
        if stubbed_env:
            stubbed, _ = timed_series(config_path, args.repeats, "stub scontrol", stubbed_env)
        profile = None
        if args.profile:
            stats_path = Path(folder) / "dag.prof"
            timed_dry_run(config_path, ["-m", "cProfile", "-o", str(stats_path)], stubbed_env)
            profile = profile_rows(stats_path, args.profile)
    summary = {
        "grid": {
            "students": len(config["students"]),
            "objectives": len(OBJECTIVES),
            "data_modes": len(DATA_MODES),
            "runs": len(config["runs"]),
            "tasks": len(config["evaluate"]["tasks"]),
            "languages": len(config["languages"]),
            "shards_per_language": args.shards,
            "corpus_size": config["corpus"]["size"],
        },
        "jobs": counts,
        "seconds": seconds,
        "median_seconds": statistics.median(seconds),
        "scontrol_probe_seconds": probe,
        "seconds_scontrol_stubbed": stubbed,
        "median_seconds_scontrol_stubbed": statistics.median(stubbed) if stubbed else None,
        "python": sys.version.split()[0],
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
    }
    if profile:
        summary["profile_top_cumulative"] = profile
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
