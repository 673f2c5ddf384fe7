"""mteb tasks by name: language filters on real task metadata, a full run on mteb's mock task.

MTEB datasets cannot be downloaded here; the filters read only task metadata, and the
end-to-end run uses mteb's own in-memory mock STS task in place of a downloaded one.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from conftest import make_config
from mwalign.evaluate import mteb_tasks
from mwalign.evaluate.params import evaluate_params
from mwalign.evaluate.run import evaluate_model
from mwalign.report import collect_scores
from workflow_helpers import tiny_student

PARAMS = {
    "languages": ["ar", "de", "zh"],
    "unseen_languages": ["fr", "sw"],
    "mteb_languages": "experiment",
}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_tatoeba_keeps_only_experiment_languages_in_their_scripts():
    task = mteb_tasks.mteb_task("Tatoeba", {**PARAMS, "mteb_languages": "experiment"})
    assert sorted(task.hf_subsets) == ["ara-eng", "cmn-eng", "deu-eng", "fra-eng", "swh-eng"]
    flores = mteb_tasks.mteb_task("FloresBitextMining", PARAMS)
    # 6 languages, every ordered pair; no Arabic in Latin script, no traditional Chinese
    assert len(flores.hf_subsets) == 6 * 5
    assert "eng_Latn-arb_Latn" not in flores.hf_subsets
    everything = mteb_tasks.mteb_task("Tatoeba", {**PARAMS, "mteb_languages": "all"})
    assert len(everything.hf_subsets) > 100


def test_task_without_experiment_languages_is_named():
    with pytest.raises(ValueError, match="'GeoreviewClassification' has no subset"):
        mteb_tasks.mteb_task("GeoreviewClassification", PARAMS)  # Russian only


def test_unknown_task_name_is_named():
    def config(tasks: list[str]) -> dict:
        return make_config(
            {"languages": ["de"], "evaluate": {"tasks": tasks, "unseen_languages": []}}
        )

    with pytest.raises(ValueError, match=r"unknown task\(s\) \['NoSuchTask'\]"):
        config(["Tatoeba", "NoSuchTask"])
    assert config(["Tatoeba", "STS17"])["evaluate"]["tasks"] == ["Tatoeba", "STS17"]


def test_mteb_task_runs_end_to_end(monkeypatch, tmp_path):
    from mteb.mocks.mock_tasks.sts import MockMultilingualSTSTask

    real = mteb_tasks._mteb()
    fake = SimpleNamespace(get_task=lambda name: MockMultilingualSTSTask())
    monkeypatch.setattr(mteb_tasks, "_mteb", lambda: fake)
    config = make_config({"languages": ["de"], "evaluate": {"unseen_languages": ["sw"]}})
    params = evaluate_params(config, "base-tiny", "MockMultilingualSTSTask")
    assert params["mteb_languages"] == "experiment" and "bible" not in params
    student = tiny_student(tmp_path / "tiny")
    out = tmp_path / "eval/base-tiny/MockMultilingualSTSTask.json"
    summary = evaluate_model(
        model_path=student,
        task="MockMultilingualSTSTask",
        params=params,
        out_path=out,
        cache_dir=tmp_path / "cache",
    )
    result = json.loads(out.read_text())
    assert [entry["hf_subset"] for entry in result["scores"]["test"]] == ["eng"]  # fra dropped
    assert summary["encode_calls"] >= 1 and real.__name__ == "mteb"
    # per-item similarities, rescored to mteb's Spearman correlation when written
    assert summary["items"] > 0 and summary["item_scores_checked"] == 1
    scores, _ = collect_scores([out], {"base-tiny": {}})
    assert set(scores["task_type"]) == {"STS"} and set(scores["language"]) == {"en"}
