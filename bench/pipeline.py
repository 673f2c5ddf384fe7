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

CPU utilisation is CPU time over cores x wall time: how busy the workflow kept the
cores it was given. Two counts of CPU time are printed:

- ``exact``: the CPU time of every process the run started (``getrusage`` of this
  script's waited-for children: snakemake, its jobs and theirs), scheduler included;
- ``benchmarks``: the jobs' summed ``cpu_time`` from Snakemake's benchmark files. These
  undercount: Snakemake samples a job's CPU time every 0.5 s for its first 15 s, then
  every 30 s, and keeps the last sample, so up to 30 s x threads of each longer job's
  end are missing.

A timeline in 10 s bins shows the whole machine's busy cores (``/proc/stat``), the
process tree's largest resident memory in the bin (so the peak has a time and jobs) and
the jobs running. The cores no job claims (cores minus the running jobs' threads, from
the jobs' starts, wall times and threads in Snakemake's log) separate the schedule's idle
cores from idle CPU inside jobs, and do not depend on other work on the machine.
On a shared machine other processes take CPU time too, so wall time and
utilisation are only comparable between runs on a quiet machine (the load average
before and after is recorded).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import resource
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


JOB_SCRIPT = re.compile(r"tmp[^/]*\.(\w+)\.py$")


def tree_sample(process: psutil.Process) -> tuple[int, set[tuple[int, str]]]:
    """Resident bytes of the process tree under ``process``, and (pid, script name) of the
    job scripts running in it, from one walk of the tree."""
    total, jobs = 0, set()
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
            for arg in proc.cmdline():
                match = JOB_SCRIPT.search(arg)
                if match:
                    jobs.add((proc.pid, match.group(1)))
    return total, jobs


def busy_cores() -> float:
    """Busy CPU-seconds of the whole machine since boot (``/proc/stat``; 0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(value) for value in fields]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_with_memory(command: list[str]) -> dict:
    """Run ``command``; its return code, wall seconds, peak bytes of the process tree,
    exact CPU seconds of every process it started, and a trace of (seconds, busy cores
    of the machine, the process tree's largest resident GiB, running jobs) every 10 s."""
    cpu_before = children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT)
    handle = psutil.Process(proc.pid)
    peak = 0
    trace = []
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        last_time, last_busy, jobs, bin_peak = start, busy_cores(), set(), 0
        while not done.is_set():
            with contextlib.suppress(psutil.Error):
                rss, running = tree_sample(handle)
                peak, bin_peak = max(peak, rss), max(bin_peak, rss)
                jobs.update(running)
            now = time.perf_counter()
            if now - last_time >= 10:
                busy = busy_cores()
                trace.append(
                    (round(now - start), round((busy - last_busy) / (now - last_time), 2),
                     round(bin_peak / 2**30, 2), sorted(name for _, name in jobs))
                )  # fmt: skip
                last_time, last_busy, jobs, bin_peak = now, busy, set(), 0
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    return {
        "code": code,
        "wall": wall,
        "peak": peak,
        "cpu_seconds": children_cpu() - cpu_before,
        "trace": trace,
    }


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


def job_threads(log_text: str) -> dict[str, int]:
    """Threads of each job in a Snakemake log, keyed as :func:`job_times` keys it (its
    benchmark file under benchmarks/, without .tsv): a job's block names its benchmark
    file, then its threads where they are more than one."""
    threads: dict[str, int] = {}
    current = None
    for line in log_text.splitlines():
        line = line.strip()
        if line.startswith(("rule ", "localrule ")):
            current = None
        elif line.startswith("benchmark: "):
            current = line.split(": ", 1)[1].removeprefix("benchmarks/").removesuffix(".tsv")
            threads[current] = 1
        elif line.startswith("threads: ") and current is not None:
            threads[current] = int(line.split(": ", 1)[1])
    return threads


def allocation(jobs: dict[str, dict[str, float]], threads: dict[str, int], cores: int) -> dict:
    """Where the schedule leaves cores without a job: the core-seconds no job's threads
    claim (cores minus the running jobs' threads, from the jobs' starts and wall times),
    and each stretch of at least 2 s with a core unclaimed and the jobs then running.
    Idle CPU inside a job (its single-threaded start-up and serial parts) is not here:
    it is the difference between this and the measured CPU utilisation."""
    edges = sorted({0.0, *(j["start"] for j in jobs.values()),
                    *(j["start"] + j["seconds"] for j in jobs.values())})  # fmt: skip
    unclaimed, stretches = 0.0, []
    for begin, end in zip(edges, edges[1:], strict=False):
        running = [
            name for name, j in jobs.items() if j["start"] <= begin < j["start"] + j["seconds"]
        ]
        free = max(0, cores - sum(threads.get(name, 1) for name in running))
        unclaimed += free * (end - begin)
        if free and end - begin >= 2:
            stretches.append({"from": round(begin), "to": round(end), "free_cores": free,
                              "running": running})  # fmt: skip
    return {"unclaimed_core_seconds": round(unclaimed, 1), "stretches": stretches}


def print_allocation(found: dict, cores: int, span: float) -> None:
    share = found["unclaimed_core_seconds"] / (cores * span)
    print(
        f"cores no job claims: {found['unclaimed_core_seconds']:.0f} core-seconds "
        f"({share:.1%} of {cores} cores x {span:.0f} s); stretches of 2 s or more:"
    )
    for stretch in found["stretches"]:
        print(
            f"  {stretch['from']:>5}-{stretch['to']:<5} s {stretch['free_cores']} free  "
            f"{' '.join(stretch['running']) or '(nothing running)'}"
        )


def newest_log(workdir: Path) -> str:
    """The text of the newest Snakemake log under ``workdir``/.snakemake/log ("" if none)."""
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    return logs[-1].read_text() if logs else ""


def analyse(folder: Path, cores: int) -> int:
    """Utilisation, per-job times and the cores no job claims, of a finished run, from its
    benchmark files and the newest Snakemake log beside them."""
    jobs = job_times(folder, 0.0)
    span = timeline(jobs, folder)["span_seconds"]
    print(
        f"{len(jobs)} jobs from {folder}: span {span:.0f} s, CPU time "
        f"{sum(j['cpu_seconds'] for j in jobs.values()):.0f} s, CPU utilisation "
        f"{utilisation(jobs, cores, span):.0%} of {cores} cores (span as wall time)"
    )
    threads = job_threads(newest_log(folder.resolve().parent))
    for job, entry in sorted(jobs.items(), key=lambda item: item[1]["start"]):
        print(
            f"  {entry['start']:>7.0f} {job:<50} {entry['seconds']:>8.1f} s "
            f"{entry['cpu_seconds']:>8.1f} CPU s {entry['max_rss_mb']:>7.0f} MB "
            f"{threads.get(job, 1)} thread(s)"
        )
    if threads:
        print_allocation(allocation(jobs, threads, cores), cores, span)
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
    measured = run_with_memory(command)
    code, wall, peak = measured["code"], measured["wall"], measured["peak"]
    load_after = os.getloadavg()
    stages = stage_times(ROOT / "benchmarks")
    ran = job_times(ROOT / "benchmarks", started)
    if ran:
        timeline(ran, ROOT / "benchmarks")
    cores = int(args.cores) if args.cores != "all" else os.cpu_count() or 1
    busy = utilisation(ran, cores, wall)
    exact = measured["cpu_seconds"] / (cores * wall)
    print(
        f"\nCPU {host['cpu_model']} ({', '.join(host['cpu_flags'])}); "
        f"{host.get('precision_auto_cpu', 'torch not importable')}"
    )
    print(
        f"exit code {code}; wall time {wall / 60:.1f} min ({wall:.0f} s); "
        f"peak memory (process tree) {peak / 2**30:.2f} GiB; CPU utilisation of {cores} "
        f"cores: exact {exact:.0%} ({measured['cpu_seconds']:.0f} CPU s), benchmarks "
        f"{busy:.0%}; load average before {load_before[0]:.1f}, after {load_after[0]:.1f}"
    )
    print("timeline (end of each 10 s bin: busy cores of the machine, largest GiB, jobs):")
    for second, cores_busy, gib, names in measured["trace"]:
        print(f"  {second:>5} s {cores_busy:>5.2f} {gib:>5.2f} GiB  {' '.join(names)}")
    claimed = allocation(ran, job_threads(newest_log(ROOT)), cores) if ran else None
    if claimed:
        print_allocation(claimed, cores, wall)
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
                "cpu_utilisation": exact,
                "cpu_seconds": measured["cpu_seconds"],
                "cpu_utilisation_benchmarks": busy,
                "timeline": measured["trace"],
                "machine": host,
                "load_average_before": load_before,
                "load_average_after": load_after,
                "configfiles": args.configfile,
                "stages": stages,
                "jobs_run": ran,
                "unclaimed_cores": claimed,
            },
            indent=2,
        )
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
