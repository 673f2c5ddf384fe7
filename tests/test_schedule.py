"""Threads and priorities: the critical path first, trained models' evaluations side by side."""

from __future__ import annotations

import re

import pytest
from mwalign.schedule import MOST_THREADS, PRIORITY, job_threads
from workflow_helpers import snakemake, tiny_config, tiny_student


@pytest.mark.parametrize(
    ("cores", "side_by_side", "expected"),
    [
        (2, 1, 2),
        (2, 2, 1),
        (2, 6, 1),  # more jobs than cores: one thread each, they take turns
        (16, 1, MOST_THREADS),
        (16, 2, 8),
        (16, 3, 5),
        (None, 1, MOST_THREADS),  # a cluster executor: no --cores at planning time
        (None, 4, MOST_THREADS),
    ],
)
def test_job_threads(cores, side_by_side, expected):
    assert job_threads(cores=cores, side_by_side=side_by_side) == expected


def test_job_threads_needs_a_job():
    with pytest.raises(ValueError, match="side_by_side must be at least 1"):
        job_threads(cores=2, side_by_side=0)


def test_the_critical_path_comes_first():
    assert PRIORITY["setup"] > PRIORITY["train"] > PRIORITY["evaluate_run"]
    assert PRIORITY["evaluate_run"] > PRIORITY["evaluate_base"]


def planned(workdir, cores: int) -> dict[str, dict[str, int]]:
    """Job name (rule and wildcards) -> threads and priority of a dry run with ``cores``."""
    result = snakemake(workdir, "--dry-run", "--cores", str(cores))
    jobs = {}
    for block in (result.stdout + result.stderr).split("\nrule ")[1:]:
        rule = block.split(":", 1)[0]
        if rule in ("all",):
            continue
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        threads = re.search(r"^\s+threads: (\d+)$", block, re.M)
        priority = re.search(r"^\s+priority: (-?\d+)$", block, re.M)
        name = f"{rule}[{wildcards.group(1)}]" if wildcards else rule
        jobs[name] = {
            "threads": int(threads.group(1)) if threads else 1,
            "priority": int(priority.group(1)) if priority else 0,
        }
    return jobs


@pytest.mark.slow
def test_two_cores_train_alone_and_evaluate_trained_models_side_by_side(tmp_path):
    student = tiny_student(tmp_path / "tiny")
    tiny_config(tmp_path, student)
    jobs = planned(tmp_path, cores=2)
    evaluate = "evaluate[model={}, task=BibleBitextMining]"
    assert jobs["train[run=multiway]"] == {"threads": 2, "priority": PRIORITY["train"]}
    assert jobs["train[run=enx]"]["threads"] == 2
    for run in ("multiway", "enx"):
        assert jobs[evaluate.format(run)] == {"threads": 1, "priority": PRIORITY["evaluate_run"]}
    assert jobs[evaluate.format("base-tiny")] == {"threads": 2, "priority": 0}
    assert jobs["assemble"]["priority"] == PRIORITY["setup"]
    assert jobs["translate[lang=de, shard=0]"] == {"threads": 1, "priority": PRIORITY["setup"]}
    wide = planned(tmp_path, cores=8)
    assert wide[evaluate.format("multiway")]["threads"] == 4
    assert wide["train[run=multiway]"]["threads"] == 8
