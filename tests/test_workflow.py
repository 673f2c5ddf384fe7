"""The whole workflow on a tiny config: every output well-formed, reruns do only what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mwalign import tables
from mwalign.files import read_table
from workflow_helpers import (
    DATA_FILE_PATTERNS,
    SIDE_FILE_PATTERNS,
    data_file_hashes,
    edited_config,
    planned_jobs,
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
