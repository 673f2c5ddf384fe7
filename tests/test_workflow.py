"""The whole workflow on a tiny config: every output well-formed, reruns do only what changed."""

from __future__ import annotations

import base64
import json
import os
import shutil
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from mwalign import tables
from mwalign.files import read_table
from workflow_helpers import (
    DATA_FILE_PATTERNS,
    SIDE_FILE_PATTERNS,
    data_file_hashes,
    dry_run,
    edited_config,
    flip_bytes,
    planned_jobs,
    report_bytes,
    side_file_contents,
    snakemake,
    tiny_config,
    tiny_student,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workflow_student(tmp_path_factory) -> Path:
    return tiny_student(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, workflow_student):
    workdir = tmp_path_factory.mktemp("experiment")
    tiny_config(workdir, workflow_student)
    snakemake(workdir)
    return workdir


def test_every_output_is_well_formed(finished_run):
    results = finished_run / "results"
    corpus = read_table(results / "corpus/en.parquet", tables.CORPUS)
    assert corpus.num_rows == 64
    for lang in ("de", "zh"):
        for shard in (0, 1):
            shard_table = read_table(
                results / f"translations/{lang}/{shard}.parquet", tables.TRANSLATION
            )
            assert shard_table.num_rows == (40 if shard == 0 else 24)
    multiway = read_table(
        results / "dataset/multiway.parquet", tables.multiway_schema(["de", "zh"])
    )
    enx = read_table(results / "dataset/enx.parquet", tables.ENX)
    assert 0 < multiway.num_rows <= 64
    assert enx.num_rows == multiway.num_rows
    card = json.loads((results / "dataset/card.json").read_text())
    assert card["multiway"]["rows"] == multiway.num_rows
    teacher = read_table(results / "teacher/sentence-transformers--all-MiniLM-L6-v2.parquet")
    assert teacher.num_rows == 64
    for run in ("multiway", "enx"):
        assert (results / f"models/{run}/modules.json").exists()
        assert (results / f"models/{run}/mwalign_run.json").exists()
    for model in ("base-tiny", "multiway", "enx"):
        result = json.loads((results / f"eval/{model}/BibleBitextMining.json").read_text())
        assert result["task_name"] == "BibleBitextMining"
    scores = read_table(results / "report/scores.parquet", tables.SCORES).to_pandas()
    assert set(scores["model"]) == {"base-tiny", "multiway", "enx"}
    assert scores["score"].between(0, 1).all()
    data = scores.drop_duplicates("model").set_index("model")["data"]
    assert data.to_dict() == {"base-tiny": "base", "multiway": "multiway", "enx": "enx"}
    tags = scores[scores["model"] == "multiway"].set_index("language")["seen"]
    assert set(tags[["en-de", "zh-en"]]) == {"seen"}
    assert set(tags[["en-fr", "sw-en"]]) == {"unseen"}
    summary = (results / "report/summary.md").read_text()
    assert "multiway" in summary and "enx" in summary and "unseen" in summary
    assert "No pair of runs" not in summary  # the multi-way vs En-X gain is reported


def test_rerun_does_nothing(finished_run):
    assert planned_jobs(finished_run) == {}


def _new_learning_rate(config):
    config["train"]["learning_rate"] = 1.0e-4


def _add_spanish(config):
    config["languages"] = ["de", "zh", "es"]
    config["translate"]["reference"]["editions"]["es"] = "9"


def test_training_change_reruns_only_train_evaluate_report(finished_run):
    with edited_config(finished_run, _new_learning_rate):
        jobs = planned_jobs(finished_run)
    assert jobs == {"train": 2, "evaluate": 2, "report": 1, "all": 1}


def test_new_language_runs_only_its_shards_and_downstream(finished_run):
    with edited_config(finished_run, _add_spanish):
        jobs = planned_jobs(finished_run)
    assert jobs.get("translate") == 2  # the two shards of es only
    assert "sample" not in jobs and "teacher" not in jobs and "fetch_model" not in jobs
    assert jobs["assemble"] == 1 and jobs["train"] == 2


def test_new_task_runs_only_its_evaluations_and_report(finished_run):
    def add_task(config):
        config["evaluate"]["tasks"] = ["BibleBitextMining", "BibleClassification"]

    with edited_config(finished_run, add_task):
        jobs = planned_jobs(finished_run)
    # One job per evaluated model (base-tiny, multiway, enx); nothing upstream reruns.
    assert jobs == {"evaluate": 3, "report": 1, "all": 1}


def test_forcerun_assemble_reruns_it_and_downstream_only(finished_run):
    jobs = planned_jobs(finished_run, "--forcerun", "assemble")
    # The teacher embeds English from the corpus, not the assembled dataset, and the
    # base model's evaluation reads no dataset: neither reruns.
    assert jobs == {"assemble": 1, "train": 2, "evaluate": 2, "report": 1, "all": 1}


def test_forcerun_train_retrains_every_run(finished_run):
    jobs = planned_jobs(finished_run, "--forcerun", "train")
    assert jobs == {"train": 2, "evaluate": 2, "report": 1, "all": 1}


def test_mtime_trigger_ignores_param_changes(finished_run):
    with edited_config(finished_run, _new_learning_rate):
        assert planned_jobs(finished_run, "--rerun-triggers", "mtime") == {}


def test_until_assemble_stops_there(finished_run):
    def add_language_and_retrain(config):
        _add_spanish(config)
        _new_learning_rate(config)

    with edited_config(finished_run, add_language_and_retrain):
        jobs = planned_jobs(finished_run, "--until", "assemble")
    assert jobs == {"translate": 2, "assemble": 1}


def test_two_clean_runs_give_identical_data_and_scores(finished_run, workflow_student, tmp_path):
    tiny_config(tmp_path, workflow_student)
    snakemake(tmp_path)
    first, second = data_file_hashes(finished_run), data_file_hashes(tmp_path)
    assert len(first) >= len(DATA_FILE_PATTERNS)
    assert second == first
    # Stats, card and teacher info agree too, except the durations and rates they record.
    first_sides, second_sides = side_file_contents(finished_run), side_file_contents(tmp_path)
    assert len(first_sides) >= len(SIDE_FILE_PATTERNS)
    assert second_sides == first_sides
    columns = ["model", "task", "language", "metric"]
    scores = [
        read_table(folder / "results/report/scores.parquet", tables.SCORES)
        .to_pandas()
        .sort_values(columns, ignore_index=True)
        for folder in (finished_run, tmp_path)
    ]
    assert scores[1].equals(scores[0])


# A plain run after faults (tests/test_repair.py has the parts that need no workflow run);
# last in this file: the repairs leave the same results, made anew.
def test_missing_or_damaged_products_are_made_again_by_a_plain_run(finished_run, tmp_path):
    """A plain run after each fault (a dry run each, then several at once and one real
    run): the product is made again, then only what depends on it; the report is the same."""
    workdir, first = finished_run, report_bytes(finished_run)
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


def test_config_names_and_order_and_interrupted_runs(finished_run, tmp_path):
    """Overlays get config.yaml's reading; a value written differently or a set reordered
    reruns nothing; an interrupted run's leftovers are recovered by the plain command."""
    workdir, first = finished_run, report_bytes(finished_run)
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
