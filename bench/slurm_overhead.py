"""Per-job overhead of running Snakemake jobs through the slurm profile.

Runs a chain of N trivial jobs (each waits for the previous one, so they run one after
another) twice: through the slurm profile on the cluster that `sinfo` reaches (the test
cluster of scripts/slurm-up.sh) and locally, and reports seconds per job for both and
their difference, the overhead SLURM adds to every job.

    sudo scripts/slurm-up.sh
    python bench/slurm_overhead.py --jobs 10
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

LOG = logging.getLogger("slurm_overhead")
PROFILES = Path(__file__).resolve().parents[1] / "workflow" / "profiles"

CHAIN_SNAKEFILE = textwrap.dedent(
    """
    N = {n_jobs}

    rule all:
        input:
            f"chain/{{N - 1}}.txt",

    rule step:
        output:
            "chain/{{i}}.txt",
        input:
            lambda wc: [] if int(wc.i) == 0 else [f"chain/{{int(wc.i) - 1}}.txt"],
        shell:
            "echo {{wildcards.i}} > {{output}}"
    """
)


def slurm_args(init_seconds: int) -> list[str]:
    """Snakemake options that send jobs to the test cluster through the slurm profile."""
    return [
        "--workflow-profile",
        str(PROFILES / "slurm"),
        "--profile",
        str(PROFILES / "slurm-local"),
        "--slurm-init-seconds-before-status-checks",
        str(init_seconds),
    ]


def time_chain(workdir: Path, n_jobs: int, extra_args: list[str]) -> float:
    """Write a chain of `n_jobs` jobs into a fresh `workdir`, run it with `extra_args`
    and return the wall-clock seconds snakemake took."""
    workdir.mkdir(parents=True)
    (workdir / "Snakefile").write_text(CHAIN_SNAKEFILE.format(n_jobs=n_jobs))
    command = [sys.executable, "-m", "snakemake", "--quiet", "all", *extra_args]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(
            f"snakemake failed in {workdir} (exit {result.returncode}):\n{result.stderr[-4000:]}"
        )
    missing = [i for i in range(n_jobs) if not (workdir / "chain" / f"{i}.txt").exists()]
    if missing:
        raise RuntimeError(f"chain outputs missing for steps {missing} in {workdir}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10, help="jobs in the chain (default 10)")
    parser.add_argument(
        "--init-seconds",
        type=int,
        default=1,
        help="--slurm-init-seconds-before-status-checks (default 1, as slurm-local)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    with tempfile.TemporaryDirectory(prefix="slurm-overhead-") as tmp:
        local_s = time_chain(
            Path(tmp) / "local", args.jobs, ["--cores", "1", "--workflow-profile", "none"]
        )
        slurm_s = time_chain(Path(tmp) / "slurm", args.jobs, slurm_args(args.init_seconds))
    local_per_job = local_s / args.jobs
    slurm_per_job = slurm_s / args.jobs
    LOG.info("%d sequential trivial jobs", args.jobs)
    LOG.info("local: %.1f s total, %.2f s/job", local_s, local_per_job)
    LOG.info(
        "slurm: %.1f s total, %.2f s/job (init-seconds-before-status-checks=%d)",
        slurm_s,
        slurm_per_job,
        args.init_seconds,
    )
    LOG.info("overhead of SLURM: %.2f s/job", slurm_per_job - local_per_job)


if __name__ == "__main__":
    main()
