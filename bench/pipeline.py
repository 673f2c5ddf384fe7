"""Wall time, per-stage time and peak memory of an experiment run from a clean results/.

    python bench/pipeline.py                      # the default experiment (config.yaml)
    python bench/pipeline.py --configfile X.yaml  # another experiment
    python bench/pipeline.py --keep               # reuse results/ (times only what reruns)
    python bench/pipeline.py --keep --configfile config.yaml experiments/extended.yaml \
        --out bench/results/extended.json         # what an overlay adds to a finished run

Deletes results/, benchmarks/ and logs/ (not resources/: materialised models are kept
unless --fresh-models), runs `snakemake --cores N`, samples the resident memory of the
whole process tree every 0.5 s, then prints a table per stage and per job from
Snakemake's benchmark files (wall and CPU seconds, peak RSS) and writes it as JSON to
bench/results/pipeline.json, with the machine: CPU model, its flags that matter here
(AVX-512, AVX512-BF16, AMX), torch's CPU capability and the precision `auto` chooses.

CPU utilisation is the jobs' summed CPU time (benchmark files, column cpu_time) over
cores x wall time: how busy the workflow kept the cores it was given. On a shared
machine other processes take CPU time too, so wall time and utilisation are only
comparable between runs on a quiet machine (the load average before and after is
recorded).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil
from machine import describe as machine

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


def _number(value: str | None) -> float:
    return float(value) if value not in (None, "", "NA", "-") else 0.0


def job_times(folder: Path, since: float) -> dict[str, dict[str, float]]:
    """Wall seconds, CPU seconds and peak RSS (MB) of each job that ran after ``since``
    (epoch), keyed by its benchmark path."""
    jobs = {}
    for path in sorted(folder.rglob("*.tsv")):
        if path.stat().st_mtime >= since:
            with open(path) as handle:
                row = list(csv.DictReader(handle, delimiter="\t"))[-1]
            jobs[str(path.relative_to(folder).with_suffix(""))] = {
                "seconds": _number(row["s"]),
                "cpu_seconds": _number(row.get("cpu_time")),
                "max_rss_mb": _number(row.get("max_rss")),
            }
    return jobs


def utilisation(jobs: dict[str, dict[str, float]], cores: int, wall: float) -> float:
    """The jobs' summed CPU time over cores x wall time."""
    return sum(job["cpu_seconds"] for job in jobs.values()) / (cores * wall)


def timeline(jobs: dict[str, dict[str, float]], folder: Path) -> dict[str, float]:
    """Span of the jobs in ``folder`` (first start to last end, from the benchmark files'
    times: a file is written when its job ends) and, per job, its start in seconds."""
    ends = {job: (folder / f"{job}.tsv").stat().st_mtime for job in jobs}
    starts = {job: ends[job] - jobs[job]["seconds"] for job in jobs}
    first = min(starts.values())
    for job in jobs:
        jobs[job]["start"] = round(starts[job] - first, 1)
    return {"span_seconds": max(ends.values()) - first}


def analyse(folder: Path, cores: int) -> int:
    """Utilisation and per-job times of a finished run, from its benchmark files alone."""
    jobs = job_times(folder, 0.0)
    span = timeline(jobs, folder)["span_seconds"]
    print(
        f"{len(jobs)} jobs from {folder}: span {span:.0f} s, CPU time "
        f"{sum(j['cpu_seconds'] for j in jobs.values()):.0f} s, CPU utilisation "
        f"{utilisation(jobs, cores, span):.0%} of {cores} cores (span as wall time)"
    )
    for job, entry in sorted(jobs.items(), key=lambda item: item[1]["start"]):
        print(
            f"  {entry['start']:>7.0f} {job:<50} {entry['seconds']:>8.1f} s "
            f"{entry['cpu_seconds']:>8.1f} CPU s {entry['max_rss_mb']:>7.0f} MB"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cores", default="2")
    parser.add_argument("--configfile", nargs="+", default=None, help="one or more, merged")
    parser.add_argument("--keep", action="store_true", help="do not delete results/ first")
    parser.add_argument("--fresh-models", action="store_true", help="also delete resources/models")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pipeline.json")
    parser.add_argument(
        "--analyse", type=Path, metavar="BENCHMARKS",
        help="only analyse a finished run's benchmarks/ folder (runs nothing)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.analyse:
        return analyse(args.analyse, int(args.cores))
    if not args.keep:
        for folder in ("results", "benchmarks", "logs"):
            shutil.rmtree(ROOT / folder, ignore_errors=True)
    if args.fresh_models:
        shutil.rmtree(ROOT / "resources" / "models", ignore_errors=True)
    command = [sys.executable, "-m", "snakemake", "--cores", args.cores]
    if args.configfile:
        command += ["--configfile", *args.configfile]
    host = machine()
    load_before = os.getloadavg()
    started = time.time()
    code, wall, peak = run_with_memory(command)
    load_after = os.getloadavg()
    stages = stage_times(ROOT / "benchmarks")
    ran = job_times(ROOT / "benchmarks", started)
    if ran:
        timeline(ran, ROOT / "benchmarks")
    cores = int(args.cores) if args.cores != "all" else os.cpu_count() or 1
    busy = utilisation(ran, cores, wall)
    print(
        f"\nCPU {host['cpu_model']} ({', '.join(host['cpu_flags'])}); "
        f"{host.get('precision_auto_cpu', 'torch not importable')}"
    )
    print(
        f"exit code {code}; wall time {wall / 60:.1f} min ({wall:.0f} s); "
        f"peak memory (process tree) {peak / 2**30:.2f} GiB; CPU utilisation {busy:.0%} "
        f"of {cores} cores; load average before {load_before[0]:.1f}, after {load_after[0]:.1f}"
    )
    print(f"{'stage':<12} {'jobs':>5} {'job-seconds':>12} {'max job RSS MB':>15}")
    for stage, entry in sorted(stages.items(), key=lambda item: -item[1]["seconds"]):
        print(
            f"{stage:<12} {entry['jobs']:>5} {entry['seconds']:>12.1f} {entry['max_rss_mb']:>15.0f}"
        )
    print(f"  {'job':<50} {'wall s':>8} {'CPU s':>8} {'RSS MB':>8}")
    for job, entry in ran.items():
        print(
            f"  {job:<50} {entry['seconds']:>8.1f} {entry['cpu_seconds']:>8.1f} "
            f"{entry['max_rss_mb']:>8.0f}"
        )
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "exit_code": code,
                "wall_seconds": wall,
                "peak_bytes": peak,
                "cores": cores,
                "cpu_utilisation": busy,
                "machine": host,
                "load_average_before": load_before,
                "load_average_after": load_after,
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
