"""Workstation GPU slots, on a CPU: N simulated devices, jobs as real subprocesses.

The devices are names in a pool; what is tested is the assignment (CUDA_VISIBLE_DEVICES)
and its locks, which behave the same whether or not a GPU is behind the names.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mwalign import devices
from mwalign.devices import SLOTS_VARIABLE, VISIBLE_VARIABLE, SlotPool, claim_devices

ROOT = Path(__file__).resolve().parents[1]

# A job: claim `gpus` slots, report them, hold them until `release` exists (or for
# `hold` seconds), report the release time, exit (which frees the locks).
HOLDER = """
import json, os, sys, time
from pathlib import Path
from mwalign.devices import claim_devices
gpus, hold, report, release = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
asked = time.time()
got = claim_devices(gpus, owner=report, poll_seconds=0.05)
claimed = time.time()
with open(report, "w") as out:
    out.write(json.dumps({"devices": got.devices, "mode": got.mode, "asked": asked,
        "claimed": claimed, "visible": os.environ.get("CUDA_VISIBLE_DEVICES")}) + "\\n")
deadline = claimed + hold
while not Path(release).exists() and time.time() < deadline:
    time.sleep(0.02)
with open(report, "a") as out:
    out.write(json.dumps({"released": time.time()}) + "\\n")
"""


def pool_environment(tmp_path: Path, count: int) -> dict[str, str]:
    """The environment a job inherits from a workflow with ``count`` GPUs."""
    env = {key: value for key, value in os.environ.items() if key != "SLURM_JOB_ID"}
    env.pop(VISIBLE_VARIABLE, None)
    devices.export_gpu_slots(gpus=count, lock_dir=tmp_path / "locks", environ=env)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "workflow"), env.get("PYTHONPATH", "")])
    return env


class Job:
    """One holder subprocess."""

    def __init__(self, tmp_path: Path, env: dict, name: str, gpus: int, hold: float = 60.0):
        self.report = tmp_path / f"{name}.jsonl"
        self.release_file = tmp_path / f"{name}.release"
        command = [sys.executable, "-c", HOLDER, str(gpus), str(hold)]
        command += [str(self.report), str(self.release_file)]
        self.process = subprocess.Popen(command, env=env)

    def lines(self) -> list[dict]:
        if not self.report.exists():
            return []
        return [json.loads(line) for line in self.report.read_text().splitlines() if line]

    def claimed(self) -> dict | None:
        lines = self.lines()
        return lines[0] if lines else None

    def wait_claimed(self, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (claim := self.claimed()) is not None:
                return claim
            assert self.process.poll() is None, f"job exited with {self.process.returncode}"
            time.sleep(0.05)
        raise AssertionError(f"{self.report.stem} got no slot within {timeout} s")

    def release(self) -> None:
        self.release_file.touch()
        assert self.process.wait(timeout=30) == 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def jobs():
    started: list[Job] = []
    yield started
    for job in started:
        job.stop()


def test_workflow_devices_are_the_first_gpu_visible_ones():
    assert devices.workflow_devices(3, None) == ["0", "1", "2"]
    assert devices.workflow_devices(2, "4, 6,7") == ["4", "6"]
    assert devices.workflow_devices(1, "GPU-8f2e-11") == ["GPU-8f2e-11"]
    with pytest.raises(ValueError, match=r"resources gpu=3, but CUDA_VISIBLE_DEVICES='4,6'"):
        devices.workflow_devices(3, "4,6")
    with pytest.raises(ValueError, match="'0;1' is not a device index or UUID"):
        devices.workflow_devices(1, "0;1")


def test_export_publishes_a_pool_only_for_a_workflow_with_gpus(tmp_path):
    environ = {SLOTS_VARIABLE: "stale", "SLURM_JOB_ID": "77"}
    pool = devices.export_gpu_slots(gpus=2, lock_dir=tmp_path, environ=environ)
    assert pool == SlotPool(("0", "1"), str(tmp_path.resolve()), socket.gethostname(), "77")
    assert SlotPool.from_json(environ[SLOTS_VARIABLE]) == pool
    for gpus, visible in ((None, None), (0, None), (2, "")):  # no gpu resource, or no GPU
        environ = {SLOTS_VARIABLE: "stale"}
        if visible is not None:
            environ[VISIBLE_VARIABLE] = visible
        assert devices.export_gpu_slots(gpus=gpus, lock_dir=tmp_path, environ=environ) is None
        assert SLOTS_VARIABLE not in environ


def test_jobs_keep_the_assignment_the_workflow_does_not_own(tmp_path):
    assert claim_devices(1, environ={}).mode == "inherited"  # no pool: nothing changes
    pool = SlotPool(("0", "1"), str(tmp_path), socket.gethostname(), None)
    for placed in ({"SLURM_JOB_ID": "12"}, {}):  # a SLURM job; a job on another host
        environ = {VISIBLE_VARIABLE: "3", **placed}
        other = pool if placed else SlotPool(pool.devices, pool.lock_dir, "elsewhere", None)
        environ[SLOTS_VARIABLE] = other.to_json()
        got = claim_devices(1, environ=environ)
        assert got.mode == "scheduler" and got.devices is None
        assert environ[VISIBLE_VARIABLE] == "3"
    assert not (tmp_path / "gpu-0.lock").exists()


def test_a_job_without_gpus_sees_none_and_a_too_large_request_is_refused(tmp_path):
    # a workflow started inside SLURM job 5 (salloc): its jobs share that job id
    pool = SlotPool(("0", "1"), str(tmp_path), socket.gethostname(), "5")
    environ = {SLOTS_VARIABLE: pool.to_json(), "SLURM_JOB_ID": "5"}
    assert claim_devices(0, environ=environ).mode == "hidden"
    assert environ[VISIBLE_VARIABLE] == ""
    with pytest.raises(ValueError, match=r"resources gpu=3, but the workflow has 2 GPU slot"):
        claim_devices(3, environ=environ)


def test_concurrent_jobs_never_share_a_slot(tmp_path, jobs):
    env = pool_environment(tmp_path, 3)
    jobs += [Job(tmp_path, env, f"job{i}", gpus=1, hold=0.8) for i in range(6)]
    for job in jobs:
        assert job.process.wait(timeout=60) == 0
    spans: dict[str, list[tuple[float, float]]] = {}
    for job in jobs:
        claim, end = job.lines()
        assert claim["mode"] == "slots" and claim["visible"] == claim["devices"][0]
        spans.setdefault(claim["devices"][0], []).append((claim["claimed"], end["released"]))
    assert set(spans) == {"0", "1", "2"}
    for device, intervals in spans.items():
        intervals.sort()
        for (_, released), (claimed, _) in zip(intervals, intervals[1:], strict=False):
            assert claimed >= released, f"device {device} held by two jobs at once"
    waited = [job.claimed()["claimed"] - job.claimed()["asked"] for job in jobs]
    assert sum(seconds > 0.4 for seconds in waited) >= 3  # 6 jobs, 3 slots: half waited


def test_a_two_gpu_job_holds_two_and_a_waiting_job_gets_them_after(tmp_path, jobs):
    env = pool_environment(tmp_path, 3)
    jobs.append(big := Job(tmp_path, env, "big", gpus=2))
    first = big.wait_claimed()
    assert len(first["devices"]) == 2 and first["visible"] == ",".join(first["devices"])
    jobs.append(second := Job(tmp_path, env, "second", gpus=2))
    jobs.append(small := Job(tmp_path, env, "small", gpus=1))
    alone = small.wait_claimed()["devices"]
    assert set(alone).isdisjoint(first["devices"])
    time.sleep(1.0)
    assert second.claimed() is None  # one slot free, two needed: it waits, holding none
    big.release()
    got = second.wait_claimed()["devices"]
    assert len(got) == 2 and set(got).isdisjoint(alone)
    assert "pid" in (tmp_path / "locks" / f"gpu-{alone[0]}.lock").read_text()


def test_a_killed_job_gives_its_slots_back(tmp_path, jobs):
    env = pool_environment(tmp_path, 2)
    jobs.append(victim := Job(tmp_path, env, "victim", gpus=2))
    victim.wait_claimed()
    jobs.append(waiting := Job(tmp_path, env, "waiting", gpus=2))
    time.sleep(0.5)
    assert waiting.claimed() is None
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    assert sorted(waiting.wait_claimed(timeout=10)["devices"]) == ["0", "1"]


def test_start_job_logs_the_devices_it_took(tmp_path):
    env = pool_environment(tmp_path, 2)
    log = tmp_path / "job.log"
    code = (
        "import os, sys; from mwalign.runner import start_job; "
        f"start_job({str(log)!r}, 1, gpus=int(sys.argv[1])); "
        "print(repr(os.environ['CUDA_VISIBLE_DEVICES']))"
    )
    for gpus, shown in ((2, "'0,1'"), (0, "''")):
        done = subprocess.run(
            [sys.executable, "-c", code, str(gpus)], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == shown
    assert "GPU slots: none for this job (gpu=0)" in log.read_text()


def test_torchrun_inherits_the_devices_and_holds_the_slots(tmp_path, monkeypatch):
    from mwalign.train import launch
    from mwalign.train.job import TrainJob

    monkeypatch.setenv(
        SLOTS_VARIABLE, SlotPool(("5",), str(tmp_path), socket.gethostname(), None).to_json()
    )
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv(VISIBLE_VARIABLE, "all")  # replaced by the job's slot
    seen = {}

    def fake_run(command, **kwargs):
        seen.update(kwargs)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(launch.subprocess, "run", fake_run)
    try:
        claim_devices(1)
        job = TrainJob(params={}, dataset_path="d", student_path="s", out_dir=tmp_path / "out")
        launch.train_job(job, processes=2)
    finally:
        devices.release_devices()
    assert seen["env"][VISIBLE_VARIABLE] == "5"
    assert len(seen["pass_fds"]) == 1


@pytest.mark.slow
def test_workflow_jobs_take_slots_from_the_gpu_resource(tmp_path):
    """The real Snakefile with `--resources gpu=2`: a GPU job gets a device of the pool,
    a job without the gpu resource sees no GPU."""
    from test_train_fixtures import tokenizer_file  # noqa: F401  (needs the offline extra)
    from workflow_helpers import snakemake, tiny_config, tiny_student

    student = tiny_student(tmp_path / "models" / "tiny")
    workdir = tmp_path / "experiment"
    workdir.mkdir()
    tiny_config(workdir, student)
    snakemake(workdir, "--resources", "gpu=2", "--until", "teacher")
    assert "CUDA_VISIBLE_DEVICES=''" in (workdir / "logs/sample.log").read_text()
    teacher_log = next((workdir / "logs/teacher").glob("*.log")).read_text()
    assert "GPU slots: devices 0 (CUDA_VISIBLE_DEVICES='0')" in teacher_log
    assert (workdir / ".snakemake/gpu-slots/gpu-0.lock").exists()
