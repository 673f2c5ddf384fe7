"""Wall time, per-stage time and peak memory of an experiment run from a clean results/.

    python bench/pipeline.py                      # the default experiment (config.yaml)
    python bench/pipeline.py --configfile X.yaml  # another experiment
    python bench/pipeline.py --keep               # reuse results/ (times only what reruns)
    python bench/pipeline.py --keep --configfile config.yaml experiments/extended.yaml \
        --out bench/results/extended.json         # what an overlay adds to a finished run

Deletes results/, benchmarks/ and logs/ (not resources/: materialised models are kept
unless --fresh-models), runs `snakemake --cores N`, samples the resident memory of the
whole process tree every 0.5 s, then prints a table per stage from Snakemake's
benchmark files and writes it as JSON to bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def run_with_memory(command: list[str]) -> tuple[int, float, int]:
    """(return code, wall seconds, peak bytes of the process tree)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT)
    handle = psutil.Process(proc.pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(handle))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    return code, time.perf_counter() - start, peak


def stage_times(folder: Path) -> dict[str, dict[str, float]]:
    """Per stage: job count, summed seconds, max single-job RSS (MB) from benchmark TSVs."""
    stages: dict[str, dict[str, float]] = defaultdict(
        lambda: {"jobs": 0, "seconds": 0.0, "max_rss_mb": 0.0}
    )
    for path in sorted(folder.rglob("*.tsv")):
        stage = path.relative_to(folder).parts[0].removesuffix(".tsv")
        with open(path) as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                entry = stages[stage]
                entry["jobs"] += 1
                entry["seconds"] += float(row["s"])
                rss = row.get("max_rss", "NA")
                entry["max_rss_mb"] = max(entry["max_rss_mb"], float(rss) if rss != "NA" else 0.0)
    return dict(stages)


def job_times(folder: Path, since: float) -> dict[str, float]:
    """Seconds of each job that ran after ``since`` (epoch), keyed by its benchmark path."""
    jobs = {}
    for path in sorted(folder.rglob("*.tsv")):
        if path.stat().st_mtime >= since:
            with open(path) as handle:
                rows = list(csv.DictReader(handle, delimiter="\t"))
            jobs[str(path.relative_to(folder).with_suffix(""))] = float(rows[-1]["s"])
    return jobs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cores", default="2")
    parser.add_argument("--configfile", nargs="+", default=None, help="one or more, merged")
    parser.add_argument("--keep", action="store_true", help="do not delete results/ first")
    parser.add_argument("--fresh-models", action="store_true", help="also delete resources/models")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pipeline.json")
    args = parser.parse_args()
    if not args.keep:
        for folder in ("results", "benchmarks", "logs"):
            shutil.rmtree(ROOT / folder, ignore_errors=True)
    if args.fresh_models:
        shutil.rmtree(ROOT / "resources" / "models", ignore_errors=True)
    command = [sys.executable, "-m", "snakemake", "--cores", args.cores]
    if args.configfile:
        command += ["--configfile", *args.configfile]
    started = time.time()
    code, wall, peak = run_with_memory(command)
    stages = stage_times(ROOT / "benchmarks")
    print(
        f"\nexit code {code}; wall time {wall / 60:.1f} min; "
        f"peak memory (process tree) {peak / 2**30:.2f} GiB"
    )
    print(f"{'stage':<12} {'jobs':>5} {'job-seconds':>12} {'max job RSS MB':>15}")
    for stage, entry in sorted(stages.items(), key=lambda item: -item[1]["seconds"]):
        print(
            f"{stage:<12} {entry['jobs']:>5} {entry['seconds']:>12.1f} {entry['max_rss_mb']:>15.0f}"
        )
    ran = job_times(ROOT / "benchmarks", started)
    for job, seconds in ran.items():
        print(f"  {job:<50} {seconds:>8.1f} s")
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "exit_code": code,
                "wall_seconds": wall,
                "peak_bytes": peak,
                "cores": args.cores,
                "configfiles": args.configfile,
                "stages": stages,
                "jobs_run": ran,
            },
            indent=2,
        )
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
