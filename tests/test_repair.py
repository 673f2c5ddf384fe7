"""Records of what each job wrote and the checks against them, and a job that ends with the
workflow process. The plain runs after faults on the tiny experiment are in
tests/test_workflow.py (they share its completed run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from workflow_helpers import flip_bytes


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
