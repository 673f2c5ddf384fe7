"""Reliability of a run as a whole: the code a job runs, damaged model folders, config files
with YAML errors, and two runs in one folder."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from mwalign.paths import RUN_LOCK_FILE
from workflow_helpers import ROOT, snakemake, tiny_config, tiny_student


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    return tiny_student(tmp_path_factory.mktemp("models") / "tiny")


def copy_workflow(dest: Path) -> Path:
    """A second checkout of the workflow (Snakefile, config, workflow/, envs/); returns its
    Snakefile."""
    dest.mkdir(parents=True)
    shutil.copy2(ROOT / "Snakefile", dest / "Snakefile")
    shutil.copy2(ROOT / "config.yaml", dest / "config.yaml")
    for folder in ("workflow", "envs"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest / "Snakefile"


@pytest.mark.slow
def test_each_job_runs_the_code_of_its_own_checkout(tmp_path, student):
    """One virtualenv, two checkouts: a job of each imports its own checkout's mwalign,
    not the one the virtualenv's install points at."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the install decides
    for name in ("a", "b"):
        snakefile = copy_workflow(tmp_path / name / "checkout")
        workdir = tmp_path / name / "run"
        workdir.mkdir()
        tiny_config(workdir, student)
        snakemake(workdir, "--until", "sample", snakefile=snakefile, env=env)
        log = (workdir / "logs" / "sample.log").read_text()
        expected = (snakefile.parent / "workflow" / "mwalign").resolve()
        assert f"mwalign code from {expected}\n" in log, log


def test_every_job_script_starts_with_the_checkout_bootstrap():
    """Each script imports workflow/scripts/mwalign_job.py and starts the job before it
    imports any of mwalign: this checkout's code, GPUs taken before CUDA can start."""
    scripts = sorted((ROOT / "workflow" / "scripts").glob("*.py"))
    scripts = [path for path in scripts if path.name != "mwalign_job.py"]
    assert len(scripts) >= 10
    for path in scripts:
        body = ast.parse(path.read_text()).body
        first, second = body[0], body[1]
        assert isinstance(first, ast.ImportFrom) and first.module == "mwalign_job", path.name
        assert ast.unparse(second) == "start(snakemake)", path.name


def test_yaml_syntax_error_names_the_file_line_and_column(tmp_path):
    from mwalign.config import ConfigError, check_config_file, load_config

    bad = tmp_path / "experiment.yaml"
    bad.write_text("seed: 1\nlanguages: [de, zh\nruns: {}\n")
    with pytest.raises(ConfigError, match=r"experiment.yaml, line 3, column 5: YAML syntax"):
        check_config_file(bad)
    with pytest.raises(ConfigError, match="line 3, column 5"):
        load_config(bad)
    from mwalign.cli import main

    assert main(["check", str(bad)]) == 1  # files for --configfile: `mwalign check FILE`
    bad.write_text("seed: 1\ntrain:\n\tsteps: 3\n")  # a tab as indentation
    with pytest.raises(ConfigError, match=r"line 3, column 1: .*indented with spaces"):
        check_config_file(bad)


@pytest.mark.slow
def test_workflow_reports_a_yaml_error_of_config_yaml_with_its_position(tmp_path, student):
    tiny_config(tmp_path, student)
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text().replace("languages:", "languages: [oops", 1))
    result = snakemake(tmp_path, "--dry-run", check=False, configfiles=[])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert re.search(r"config.yaml, line \d+, column \d+: YAML syntax error", output), output


@pytest.mark.slow
def test_a_damaged_model_folder_stops_the_run_at_parse_time(tmp_path, student):
    from mwalign.models.fetch import materialise_model
    from mwalign.models.ids import model_slug

    tiny_config(tmp_path, student)
    folder = tmp_path / "resources" / "models" / model_slug(str(student))
    materialise_model(str(student), folder)
    weights = folder / "model.safetensors"
    weights.unlink()  # a hard link to the student's: the student itself keeps its file
    result = snakemake(tmp_path, "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"model folder resources/models/{folder.name} is damaged" in output, output
    assert f"rm -r resources/models/{folder.name}" in output
    shutil.rmtree(folder)  # as the message says: then the plan rebuilds it
    assert "fetch_model" in snakemake(tmp_path, "--dry-run").stdout


@pytest.mark.slow
def test_a_second_run_is_told_that_another_run_holds_the_folder(tmp_path, student):
    import subprocess
    import sys

    tiny_config(tmp_path, student)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from mwalign import runlock; runlock.hold(sys.argv[1]); "
            "print('held', flush=True); time.sleep(600)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = snakemake(tmp_path, "--until", "sample", check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert "another snakemake run is working in" in output, output
        assert f"kill {holder.pid}" in output and "--rerun-incomplete" in output
        assert not (tmp_path / "results").exists()  # nothing started
    finally:
        holder.kill()
        holder.wait()
    # the lock ends with its process: no stale lock to remove by hand
    snakemake(tmp_path, "--until", "sample")
    # ...and a run that executes jobs holds it itself (written by its onstart handler)
    record = json.loads((tmp_path / RUN_LOCK_FILE).read_text())
    assert "snakemake" in record["command"] and record["pid"] != holder.pid
