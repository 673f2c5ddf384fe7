"""Workflows through the slurm profile on a real single-node SLURM cluster.

The cluster comes from scripts/slurm-up.sh (Debian's slurm-wlm and munge on loopback, one
fake GPU). The session fixture uses a cluster that is already up, or, as root, brings one up
and tears it down afterwards. Without SLURM the tests are skipped; as root with
MWALIGN_SLURM_INSTALL=1 the fixture installs it first (CI does this).

Two workflows: a synthetic two-rule one (a GPU, a retry), and the project's own tiny
experiment (tests/workflow_helpers.py), every stage from sample to report, whose
evaluations go to SLURM as one job per model. Submissions are counted from SLURM's own
records (squeue keeps finished jobs for MinJobAge = 600 s on the test cluster).
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
import yaml
from workflow_helpers import ROOT as PROJECT_ROOT
from workflow_helpers import tiny_config, tiny_student

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


# The project's tiny experiment with two tasks, so that each model has several evaluations.
TINY_TASKS = ["BibleBitextMining", "BibleClassification"]
# Jobs that run in the main process (the Snakefile's localrules) are never submitted.
TINY_SUBMISSIONS = {
    "rule_sample": 1,
    "rule_translate_wildcards_de_0": 1,
    "rule_translate_wildcards_de_1": 1,
    "rule_translate_wildcards_zh_0": 1,
    "rule_translate_wildcards_zh_1": 1,
    "rule_assemble": 1,
    "rule_teacher": 1,
    "rule_train_wildcards_multiway": 1,
    "rule_train_wildcards_enx": 1,
    # one job per model holds all of its evaluations
    "rule_evaluate-base-tiny_evaluate": 1,
    "rule_evaluate-multiway_evaluate": 1,
    "rule_evaluate-enx_evaluate": 1,
}


def submissions(workdir: Path) -> list[dict[str, str]]:
    """SLURM's record of every job submitted from ``workdir``, finished ones included: the
    executor's comment (``rule_{rule}`` or ``rule_{group}_{rule}``), CPUs, state."""
    result = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--format=%i|%k|%Z|%C|%T"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    jobs = []
    for line in result.stdout.splitlines():
        job_id, comment, folder, cpus, state = line.strip().split("|")
        if Path(folder).resolve() == workdir.resolve():
            jobs.append({"id": job_id, "comment": comment, "cpus": cpus, "state": state})
    return jobs


def project_args(workdir: Path, *extra: str) -> list[str]:
    """snakemake arguments that run the project's Snakefile on the experiment in workdir."""
    return [
        "--snakefile",
        str(PROJECT_ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        *extra,
    ]


@pytest.fixture(scope="module")
def project_on_slurm(slurm_cluster: None, tmp_path_factory) -> Path:
    """The project's tiny experiment, run once through the slurm profile."""
    student = tiny_student(tmp_path_factory.mktemp("models") / "tiny")
    workdir = tmp_path_factory.mktemp("slurm-experiment")
    evaluate = {
        "tasks": TINY_TASKS,
        "unseen_languages": ["fr", "sw"],
        "bible": {"english_edition": "2", "books": [40, 66], "size": 60},
    }
    tiny_config(workdir, student, evaluate=evaluate)
    run_snakemake(workdir, *project_args(workdir))
    return workdir


def test_project_experiment_on_slurm_one_job_per_models_evaluations(project_on_slurm: Path):
    workdir = project_on_slurm
    results = workdir / "results"
    # Every stage ran, sample to report.
    assert (results / "corpus" / "en.parquet").is_file()
    assert len(list(results.glob("translations/*/*.parquet"))) == 4
    assert (results / "dataset" / "multiway.parquet").is_file()
    assert len(list(results.glob("teacher/*.parquet"))) == 1
    assert {p.name for p in (results / "models").iterdir() if not p.name.startswith(".")} == {
        "multiway",
        "enx",
    }
    models = ["base-tiny", "multiway", "enx"]
    for model in models:
        for task in TINY_TASKS:
            assert (results / "eval" / model / f"{task}.json").is_file(), (model, task)
    assert (results / "report" / "summary.md").stat().st_size > 0
    # SLURM saw one job per submitted rule job, and one per model for the evaluations.
    jobs = submissions(workdir)
    comments = sorted(job["comment"] for job in jobs)
    assert comments == sorted(TINY_SUBMISSIONS), comments
    assert {job["state"] for job in jobs} == {"COMPLETED"}, jobs
    # Each evaluation ran on the CPUs its group job was given (the cluster-side job plans
    # its threads as the submitting process did, not from the node's CPU count).
    cpus = {job["comment"]: job["cpus"] for job in jobs}
    for model in models:
        given = cpus[f"rule_evaluate-{model}_evaluate"]
        logs = [
            (workdir / "logs" / "evaluate" / model / f"{task}.log").read_text()
            for task in TINY_TASKS
        ]
        for log in logs:
            assert f"s on {given} threads," in log, (model, given, log[-2000:])
        # The two Bible tasks read the same verses: whichever ran second in the group found
        # all of them in the model's embedding cache and never loaded the model.
        cached = [log for log in logs if ", 0 encode calls, 0 of 300 sentences encoded" in log]
        assert len(cached) == 1 and "mwalign.students: loaded" not in cached[0]


def test_project_rerun_on_slurm_finds_nothing_to_do(project_on_slurm: Path):
    rerun = run_snakemake(project_on_slurm, *project_args(project_on_slurm, "--dry-run"))
    assert "Nothing to be done" in rerun.stdout + rerun.stderr


def test_changed_task_setting_reruns_that_task_only_in_the_groups(project_on_slurm: Path):
    workdir = project_on_slurm
    config_path = workdir / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["evaluate"]["classification"] = {"n_experiments": 3}  # BibleClassification only
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    eval_dir = workdir / "results" / "eval"
    bitext_before = {p: p.stat().st_mtime_ns for p in eval_dir.glob("*/BibleBitextMining.json")}
    classification_before = {
        p: p.stat().st_mtime_ns for p in eval_dir.glob("*/BibleClassification.json")
    }
    already = {job["id"] for job in submissions(workdir)}

    run_snakemake(workdir, *project_args(workdir))

    new_jobs = [job for job in submissions(workdir) if job["id"] not in already]
    # Three group jobs (one per model), each holding the one changed task.
    assert sorted(job["comment"] for job in new_jobs) == [
        "rule_evaluate-base-tiny_evaluate",
        "rule_evaluate-enx_evaluate",
        "rule_evaluate-multiway_evaluate",
    ], new_jobs
    assert {p: p.stat().st_mtime_ns for p in bitext_before} == bitext_before
    for path, before in classification_before.items():
        assert path.stat().st_mtime_ns > before, path
    rerun = run_snakemake(workdir, *project_args(workdir, "--dry-run"))
    assert "Nothing to be done" in rerun.stdout + rerun.stderr
