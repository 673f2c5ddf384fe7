"""A plain ``snakemake`` after a fault: missing or damaged products are made again (and only
what depends on them), a damaged input never costs a good output, config files are read
with file, line and column, names and values that mean the same rerun nothing, a killed
run leaves nothing behind. One tiny experiment is run once for the whole module; each
fault is checked with a dry run, then several at once with one real rerun, which must give
a report byte-identical to the first run's."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from workflow_helpers import (
    edited_config,
    job_counts,
    planned_jobs,
    snakemake,
    tiny_config,
    tiny_student,
)

REPORT_FILES = ("results/report/summary.md", "results/report/scores.parquet")


@pytest.fixture(scope="module")
def completed(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    """A completed tiny experiment (64 verses, de and zh, 3 steps) and its report's bytes."""
    workdir = tmp_path_factory.mktemp("run")
    student = tiny_student(tmp_path_factory.mktemp("models") / "tiny")
    tiny_config(workdir, student)
    snakemake(workdir)
    return workdir, report_bytes(workdir)


def report_bytes(workdir: Path) -> dict[str, bytes]:
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


@pytest.mark.slow
def test_missing_or_damaged_products_are_made_again_by_a_plain_run(completed, tmp_path):
    workdir, first = completed
    results = workdir / "results"
    backup = tmp_path / "results"
    shutil.copytree(results, backup)  # copy2: the same bytes and modification times

    def restore() -> None:  # the same bytes and times: the records match again
        shutil.rmtree(results)
        shutil.copytree(backup, results)

    retrain_enx = {"train": 1, "evaluate": 1, "report": 1, "all": 1}
    redo_dataset = {"assemble": 1, "train": 2, "evaluate": 2, "report": 1, "all": 1}
    teacher = next((results / "teacher").glob("*.parquet"))

    def fewer_teacher_rows() -> None:  # a teacher file of another config: 40 rows, not 64
        pq.write_table(pq.read_table(teacher).slice(0, 40), teacher)

    faults = [
        # (what the user did, the jobs a plain run plans, what its message says)
        (lambda: shutil.rmtree(results / "models/enx"), retrain_enx, None),
        (
            lambda: (results / "models/enx/model.safetensors").rename(tmp_path / "w"),
            retrain_enx,
            "results/models/enx is damaged: model.safetensors is missing",
        ),
        (
            lambda: (results / "eval/enx/BibleBitextMining.json").unlink(),
            {"evaluate": 1, "report": 1, "all": 1},
            None,
        ),
        (
            lambda: flip_bytes(results / "dataset/multiway.parquet"),
            redo_dataset,
            "results/dataset/multiway.parquet is damaged: multiway.parquet was changed "
            "since its job wrote it",
        ),
        (lambda: (results / "dataset/multiway.parquet").unlink(), redo_dataset, None),
        (
            lambda: os.truncate(results / "translations/de/0.parquet", 1000),
            {"translate": 1, **redo_dataset},
            "results/translations/de/0.parquet is damaged: 0.parquet has 1000 bytes",
        ),
        (
            fewer_teacher_rows,
            {"teacher": 1, "all": 1},
            f"{teacher.relative_to(workdir)} is damaged: {teacher.name} holds 40 rows, not the 64",
        ),
        (
            lambda: shutil.rmtree(results / "report/plots"),
            {"report": 1, "all": 1},
            None,
        ),
    ]
    for damage, jobs, message in faults:
        damage()
        planned, output = dry_run(workdir)
        assert planned == jobs, output
        if message:
            assert message in output, output
        restore()

    # Several faults at once, then one plain run: every product is back, the report the same.
    assert planned_jobs(workdir) == {}
    flip_bytes(results / "dataset/multiway.parquet")
    os.truncate(results / "translations/zh/1.parquet", 500)
    fewer_teacher_rows()
    (results / "eval/base-tiny/BibleBitextMining.json").unlink()
    snakemake(workdir)
    assert report_bytes(workdir) == first
    assert pq.read_metadata(teacher).num_rows == 64
    assert planned_jobs(workdir) == {}


@pytest.mark.slow
def test_config_names_and_order_and_interrupted_runs(completed, tmp_path):
    """Overlays get config.yaml's reading; a value written differently or a set reordered
    reruns nothing; an interrupted run's leftovers are recovered by the plain command."""
    workdir, first = completed
    config = workdir / "config.yaml"

    def overlay_error(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text)
        started = time.monotonic()
        result = snakemake(workdir, "--dry-run", check=False, configfiles=[config, path])
        assert result.returncode != 0
        assert time.monotonic() - started < 60
        output = result.stdout + result.stderr
        assert "Traceback" not in output and 'File "' not in output, output
        return output

    assert "dup.yaml, line 2, column 1: key 'seed' is given twice" in overlay_error(
        "dup.yaml", "seed: 1\nseed: 2\n"
    )
    runs = yaml.safe_load(config.read_text())["runs"]
    twice = "runs:\n" + textwrap.indent(yaml.safe_dump({"enx": runs["enx"]}), "  ") * 2
    assert "key 'enx' is given twice" in overlay_error("runs.yaml", twice)
    bomb = "runs:\n  multiway:\n    seeds: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]\n"
    bomb += "".join(f"    x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))
    assert "expand to more than 100000 values" in overlay_error("bomb.yaml", bomb)
    long_name = "r" * 300
    assert "at most 64 are allowed" in overlay_error(
        "long.yaml", yaml.safe_dump({"runs": {long_name: runs["enx"]}})
    )

    # The same experiment written differently: nothing to do.
    def reordered(cfg: dict) -> None:
        cfg["languages"] = list(reversed(cfg["languages"]))
        cfg["train"]["steps"] = float(cfg["train"]["steps"])
        cfg["seed"] = float(cfg["seed"])

    with edited_config(workdir, reordered):
        assert planned_jobs(workdir) == {}

    # Interrupted: an incomplete marker (as Ctrl-C leaves it), a killed job's temporary
    # file and folder. The plain command reruns the job and removes the leftovers.
    summary = "results/report/summary.md"
    marker = workdir / ".snakemake/incomplete" / base64.urlsafe_b64encode(summary.encode()).decode()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"external_jobid": None}))
    leftovers = [
        workdir / "results/dataset/.multiway.parquet.abc123.tmp",
        workdir / "results/eval/.cache/enx/tmpk1ll3d/part.bin",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    planned, output = dry_run(workdir)
    assert planned == {"report": 1, "all": 1}, output
    assert f"{summary} was left incomplete by an interrupted run" in output
    snakemake(workdir)
    assert not any(path.exists() for path in leftovers)
    assert not leftovers[1].parent.exists()
    assert report_bytes(workdir) == first


def test_a_job_ends_when_the_workflow_process_is_killed(tmp_path):
    """SIGKILL of snakemake: its job notices within seconds and stops (no orphan)."""
    fake = tmp_path / "bin" / "snakemake"  # a process whose command is `snakemake`
    fake.parent.mkdir()
    fake.symlink_to(sys.executable)
    pid_file = tmp_path / "job.pid"
    workflow_dir = Path(__file__).resolve().parents[1] / "workflow"
    job = (
        f"import sys, time; sys.path.insert(0, {str(workflow_dir)!r})\n"
        "from mwalign.runner import end_with_workflow\n"
        f"assert end_with_workflow(interval=0.2) is not None\n"
        f"open({str(pid_file)!r}, 'w').write(str(__import__('os').getpid()))\n"
        "time.sleep(120)\n"
    )
    parent = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.argv[1], '-c', {job!r}])\n"
        "time.sleep(120)\n"
    )
    workflow = subprocess.Popen([str(fake), "-c", parent, sys.executable])
    try:
        for _ in range(200):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        child = int(pid_file.read_text())
        os.kill(workflow.pid, signal.SIGKILL)
        workflow.wait()
        for _ in range(100):
            if not Path(f"/proc/{child}").exists() or _zombie(child):
                break
            time.sleep(0.1)
        assert not Path(f"/proc/{child}").exists() or _zombie(child)
    finally:
        if workflow.poll() is None:
            workflow.kill()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def test_records_find_each_kind_of_damage(tmp_path):
    """Without a workflow: a record per output, and what the parse-time check reports."""
    import pyarrow as pa
    from mwalign.products import damage, find_damaged, verify_folder, write_records

    table = tmp_path / "results/dataset/t.parquet"
    table.parent.mkdir(parents=True)
    pq.write_table(pa.table({"x": [f"sentence {i} " * 8 for i in range(2000)]}), table)
    model = tmp_path / "results/models/run"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"w" * 1000)
    (model / "config.json").write_text("{}")
    outside = tmp_path / "resources/x.json"
    outside.parent.mkdir()
    outside.write_text("{}")
    products = ["results/dataset/t.parquet", "results/models/run"]
    written = write_records([*products, "resources/x.json"], {"seed": 1}, root=tmp_path)
    assert len(written) == 2  # products live under results/ only
    assert find_damaged(products, root=tmp_path) == {}

    os.utime(table)  # touched, same bytes: still sound
    assert damage(products[0], root=tmp_path) is None
    flip_bytes(table)
    assert "changed since its job wrote it" in damage(products[0], root=tmp_path)
    pq.write_table(pa.table({"x": list(range(40))}), table)
    assert "holds 40 rows, not the 2000" in damage(products[0], root=tmp_path)
    os.truncate(table, 100)
    assert "has 100 bytes" in damage(products[0], root=tmp_path)
    table.unlink()
    assert damage(products[0], root=tmp_path) is None  # missing: rule all makes it

    (model / "model.safetensors").rename(tmp_path / "away")
    assert damage(products[1], root=tmp_path) == "model.safetensors is missing"
    (tmp_path / "away").rename(model / "model.safetensors")
    stat = (model / "model.safetensors").stat()
    flip_bytes(model / "model.safetensors")
    os.utime(model / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert damage(products[1], root=tmp_path) is None  # same size and time: the job hashes
    with pytest.raises(RuntimeError, match=r"results/models/run is damaged: .*rm -r"):
        verify_folder(model, root=tmp_path)

    # Without a record: the form only (a truncated Parquet file, broken JSON).
    loose = tmp_path / "results/eval/m/t.items.parquet"
    loose.parent.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1, 2]}), loose)
    assert damage("results/eval/m/t.items.parquet", root=tmp_path) is None
    os.truncate(loose, loose.stat().st_size - 3)
    assert "not a whole Parquet file" in damage("results/eval/m/t.items.parquet", root=tmp_path)
    (tmp_path / "results/eval/m/t.json").write_text('{"a": ')
    assert "not valid JSON" in damage("results/eval/m/t.json", root=tmp_path)
