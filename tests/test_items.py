"""Per-item evaluation outputs: metrics recomputed from items equal sklearn's and mteb's."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mwalign import tables
from mwalign.evaluate.items import (
    PARALLEL_GROUP,
    accuracy,
    item_frames,
    item_scores,
    items_path,
    macro_f1,
    spearman,
    weighted_f1,
)
from mwalign.evaluate.params import evaluate_params
from mwalign.evaluate.run import evaluate_model
from mwalign.files import read_table
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score
from test_evaluate import CONFIG
from workflow_helpers import tiny_student


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_weighted_metrics_equal_sklearn_on_repeated_items():
    rng = np.random.default_rng(0)
    gold = np.arange(50)  # bitext mining: item i matches candidate i
    predicted = np.where(rng.random(50) < 0.7, gold, rng.integers(0, 50, 50))
    labels, guesses = rng.integers(0, 5, 80), rng.integers(0, 5, 80)
    for _ in range(5):
        counts = np.bincount(rng.integers(0, 50, 50), minlength=50).astype(float)
        index = np.repeat(np.arange(50), counts.astype(int))
        assert weighted_f1(gold, predicted, counts) == pytest.approx(
            f1_score(gold[index], predicted[index], average="weighted", zero_division=0)
        )
        assert accuracy(gold, predicted, counts) == pytest.approx(
            accuracy_score(gold[index], predicted[index])
        )
        counts = np.bincount(rng.integers(0, 80, 80), minlength=80).astype(float)
        index = np.repeat(np.arange(80), counts.astype(int))
        assert macro_f1(labels, guesses, counts) == pytest.approx(
            f1_score(labels[index], guesses[index], average="macro")
        )
        scores, similarity = rng.random(80), rng.random(80)
        assert spearman(scores, similarity, counts) == pytest.approx(
            stats.spearmanr(scores[index], similarity[index])[0]
        )


@pytest.mark.slow
def test_items_give_mteb_scores(tmp_path):
    student = tiny_student(tmp_path / "tiny")
    for task, kind, rows in (
        ("BibleBitextMining", "BitextMining", 6 * 40),
        ("BibleClassification", "Classification", None),
    ):
        out = tmp_path / f"eval/base-tiny/{task}.json"
        evaluate_model(
            model_path=student,
            task=task,
            params=evaluate_params(CONFIG, "base-tiny", task),
            out_path=out,
            cache_dir=tmp_path,
        )
        items = read_table(items_path(out), tables.ITEMS).to_pandas()
        assert set(items["group"]) == {PARALLEL_GROUP}
        if rows is not None:
            assert len(items) == rows
        result = json.loads(out.read_text())
        recomputed = item_scores(kind, items)
        entries = {e["hf_subset"]: e for e in result["scores"]["test"]}
        assert {subset for _, subset, _ in recomputed} == set(entries)
        for (_, subset, metric), value in recomputed.items():
            assert value == pytest.approx(entries[subset][metric], abs=1e-6)  # mteb rounds
        # a bitext item is the same verse in every pair and direction
        assert isinstance(items, pd.DataFrame) and items["item"].max() < 40


class _Task:
    """What item_frames reads of an mteb task: metadata, data, label column, normaliser."""

    def __init__(self, name: str, kind: str, dataset: dict) -> None:
        self.metadata = type("Metadata", (), {"name": name, "type": kind})()
        self.dataset = dataset
        self.label_column_name = "label"

    @staticmethod
    def _normalize(score: float) -> float:
        return score / 5


@pytest.mark.parametrize(
    ("name", "kind", "parallel"),
    [
        ("MassiveIntentClassification", "Classification", True),
        ("SIB200Classification.v3", "Classification", True),
        ("AmazonReviewsClassification", "Classification", False),
        ("STSBenchmarkMultilingualSTS", "STS", True),
        ("STS22.v2", "STS", False),
    ],
)
def test_items_of_a_parallel_task_share_one_group(name, kind, parallel):
    subsets = ["de", "fr"]
    if kind == "Classification":
        dataset = {s: {"test": {"label": [0, 1, 1]}} for s in subsets}
        predictions = {s: {"test": [[0, 1, 0], [0, 0, 1]]} for s in subsets}
    else:
        dataset = {s: {"test": {"score": [1.0, 4.0, 2.5]}} for s in subsets}
        predictions = {s: {"test": {"cosine_scores": [0.1, 0.9, 0.4]}} for s in subsets}
    frames = item_frames(_Task(name, kind, dataset), predictions)
    groups = set(pd.concat(frames)["group"])
    assert groups == ({PARALLEL_GROUP} if parallel else set(subsets))
