"""The whole workflow on a tiny config: every output well-formed, reruns do only what changed."""

from __future__ import annotations

import json

import pytest
import yaml
from mwalign import schemas
from mwalign.io import read_table
from workflow_helpers import planned_jobs, snakemake, tiny_config, tiny_student

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("experiment")
    student = tiny_student(tmp_path_factory.mktemp("models") / "tiny")
    tiny_config(workdir, student)
    snakemake(workdir)
    return workdir


def test_every_output_is_well_formed(finished_run):
    results = finished_run / "results"
    corpus = read_table(results / "corpus/en.parquet", schemas.CORPUS)
    assert corpus.num_rows == 64
    for lang in ("de", "zh"):
        for shard in (0, 1):
            shard_table = read_table(
                results / f"translations/{lang}/{shard}.parquet", schemas.TRANSLATION
            )
            assert shard_table.num_rows == (40 if shard == 0 else 24)
    multiway = read_table(
        results / "dataset/multiway.parquet", schemas.multiway_schema(["de", "zh"])
    )
    enx = read_table(results / "dataset/enx.parquet", schemas.ENX)
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
    scores = read_table(results / "report/scores.parquet", schemas.SCORES).to_pandas()
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


def test_training_change_reruns_only_train_evaluate_report(finished_run):
    config_path = finished_run / "config.yaml"
    original = config_path.read_text()
    config = yaml.safe_load(original)
    config["train"]["learning_rate"] = 1.0e-4
    config_path.write_text(yaml.safe_dump(config))
    try:
        jobs = planned_jobs(finished_run)
    finally:
        config_path.write_text(original)
    assert jobs == {"train": 2, "evaluate": 2, "report": 1, "all": 1}


def test_new_language_runs_only_its_shards_and_downstream(finished_run):
    config_path = finished_run / "config.yaml"
    original = config_path.read_text()
    config = yaml.safe_load(original)
    config["languages"] = ["de", "zh", "es"]
    config["translate"]["reference"]["editions"]["es"] = "9"
    config_path.write_text(yaml.safe_dump(config))
    try:
        jobs = planned_jobs(finished_run)
    finally:
        config_path.write_text(original)
    assert jobs.get("translate") == 2  # the two shards of es only
    assert "sample" not in jobs and "teacher" not in jobs and "fetch_model" not in jobs
    assert jobs["assemble"] == 1 and jobs["train"] == 2
