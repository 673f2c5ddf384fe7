"""Workflows through the slurm profile on a real single-node SLURM cluster.

The cluster comes from scripts/slurm-up.sh (Debian's slurm-wlm and munge on loopback, one
fake GPU). The session fixture uses a cluster that is already up, or, as root, brings one up
and tears it down afterwards. Without SLURM the tests are skipped; as root with
MWALIGN_SLURM_INSTALL=1 the fixture installs it first (CI does this).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SLURM_UP = REPO / "scripts" / "slurm-up.sh"
SLURM_DOWN = REPO / "scripts" / "slurm-down.sh"
PROFILES = REPO / "workflow" / "profiles"
UP_STATES = {"idle", "mixed", "allocated", "completing"}
WORKFLOW_TIMEOUT_S = 600


def node_state() -> str | None:
    """State of the test cluster's node as sinfo reports it, or None when no cluster answers."""
    try:
        result = subprocess.run(
            ["sinfo", "--noheader", "--nodes=localhost", "--format=%T"],
            capture_output=True,
            text=True,
            timeout=15,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = result.stdout.split()
    return lines[0].rstrip("*~#") if result.returncode == 0 and lines else None


def slurm_snakemake_command(*extra: str) -> list[str]:
    """The snakemake command line that runs a workflow through the slurm profile on the test
    cluster: the user-facing profile plus the local cluster's settings, with cluster-side logs
    of successful jobs kept for inspection."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--workflow-profile",
        str(PROFILES / "slurm"),
        "--profile",
        str(PROFILES / "slurm-local"),
        "--max-threads",
        str(min(2, os.cpu_count() or 1)),
        "--slurm-keep-successful-logs",
        *extra,
    ]


def run_snakemake(workdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run snakemake in `workdir` through the slurm profile; fail the test with its output
    when it does not succeed."""
    result = subprocess.run(
        slurm_snakemake_command(*extra),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=WORKFLOW_TIMEOUT_S,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    # Shown by pytest only when the test fails.
    print(f"--- snakemake {' '.join(extra)} stderr ---\n{result.stderr[-8000:]}")
    if result.returncode != 0:
        pytest.fail(
            f"snakemake exited {result.returncode} in {workdir}\n"
            f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
        )
    return result


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    """A single-node SLURM cluster for the session: the running one if it is up; else, as root,
    one brought up by scripts/slurm-up.sh and stopped by scripts/slurm-down.sh at the end."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("snakemake-executor-plugin-slurm is not installed (pip install it)")
    if node_state() in UP_STATES:
        yield
        return
    is_root = os.geteuid() == 0
    if shutil.which("sinfo") is None and not (
        is_root and os.environ.get("MWALIGN_SLURM_INSTALL") == "1"
    ):
        pytest.skip(
            "SLURM is not installed (no sinfo): run `sudo scripts/slurm-up.sh`, or run the "
            "tests as root with MWALIGN_SLURM_INSTALL=1"
        )
    if not is_root:
        pytest.skip("the SLURM test cluster is not up: run `sudo scripts/slurm-up.sh` first")
    subprocess.run([str(SLURM_UP)], check=True, timeout=900)
    try:
        yield
    finally:
        subprocess.run([str(SLURM_DOWN)], check=True, timeout=120)


# Two rules named like the workflow's, so the slurm profile's per-rule settings apply:
# `translate` (GPU, one job per shard) whose shard 1 fails on its first attempt, and `train` (GPU).
TINY_SNAKEFILE = textwrap.dedent(
    """
    SHARDS = range(3)

    rule all:
        input:
            "results/model.txt",

    rule translate:
        output:
            "results/shards/{shard}.txt",
        resources:
            gpu=1,
        shell:
            '''
            echo {wildcards.shard} >> attempts.log
            if [ {wildcards.shard} = 1 ] && [ ! -e failed-once ]; then
                touch failed-once
                exit 1
            fi
            echo "shard={wildcards.shard} job=${{SLURM_JOB_ID:-none}}" > {output}
            '''

    rule train:
        input:
            expand("results/shards/{shard}.txt", shard=SHARDS),
        output:
            "results/model.txt",
        threads: 1
        resources:
            gpu=1,
        shell:
            '''
            cat {input} > {output}
            echo "gpus=${{SLURM_GPUS_ON_NODE:-0}} job=${{SLURM_JOB_ID:-none}}" >> {output}
            '''
    """
)


def test_tiny_workflow_runs_on_slurm_with_gpu_and_retry(slurm_cluster: None, tmp_path: Path):
    (tmp_path / "Snakefile").write_text(TINY_SNAKEFILE)

    run_snakemake(tmp_path)

    lines = (tmp_path / "results" / "model.txt").read_text().splitlines()
    shard_lines, train_line = lines[:-1], lines[-1]
    assert [line.split()[0] for line in shard_lines] == ["shard=0", "shard=1", "shard=2"]
    # Each shard ran as a SLURM job of its own.
    shard_jobs = [line.split("job=")[1] for line in shard_lines]
    assert "none" not in shard_jobs and len(set(shard_jobs)) == 3, shard_lines
    # train ran as a SLURM job that was given the (fake) GPU it asked for.
    assert train_line.startswith("gpus=1 job="), train_line
    assert not train_line.endswith("job=none"), train_line
    # Shard 1 failed once and was retried; the others ran once.
    attempts = sorted((tmp_path / "attempts.log").read_text().split())
    assert attempts == ["0", "1", "1", "2"]
    # A rerun finds nothing to do: nothing was lost or left incomplete.
    rerun = run_snakemake(tmp_path, "--dry-run")
    assert "Nothing to be done" in rerun.stdout + rerun.stderr
