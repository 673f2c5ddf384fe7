"""Per-item evaluation outputs: what each evaluated sentence got, beside the mteb result JSON.

mteb writes one score per (split, subset); a paired bootstrap over evaluation items
needs what each item got. mteb saves its predictions when given a
``prediction_folder``: the nearest candidate of every query sentence (bitext mining),
the predicted label of every test item in every experiment (classification), the
similarity of every pair (STS). :func:`item_table` joins them with the gold labels of
the task's data into one table (:data:`mwalign.tables.ITEMS`), and :func:`item_scores`
recomputes mteb's metrics from it exactly as mteb does (weighted F1 of bitext mining,
accuracy and macro-F1 averaged over classification experiments, Spearman correlation
of STS), so a resample of items can be scored the same way; evaluation checks that the
recomputed scores equal mteb's own.

Items that are the same unit of evaluation share a ``group`` and an ``item`` id, and a
paired bootstrap draws them together: in a parallel bitext task (mteb's layout of one
table with a column per language: FLORES, the Bible) sentence ``i`` is the same
sentence in every language pair and both directions, so every subset of the task has
group ``parallel``; so do the subsets of the tasks in :data:`PARALLEL_ITEM_TASKS`,
which hold the same test items in the same order in every language; elsewhere each
subset is its own group. :func:`resampling_groups` gives the groups a bootstrap uses
(also for tables written before a task was declared) and checks that a declared task's
items do align.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from mwalign.paths import ITEMS_SUFFIX
from mwalign.tables import ITEMS

log = logging.getLogger(__name__)

PARALLEL_GROUP = "parallel"
# mteb metric names recomputed from items, per task type
ITEM_METRICS = {
    "BitextMining": ("f1", "accuracy"),
    "Classification": ("accuracy", "f1"),
    "STS": ("cosine_spearman",),
}
TOLERANCE = 1e-6  # recomputed vs mteb's own score (mteb rounds to 6 decimals)
# Tasks whose every language subset holds the same test items in the same order, each a
# translation of one set: the Bible verses, MASSIVE's utterances (one id per utterance
# across its 51 locales), SIB-200's FLORES-200 sentences, the STS Benchmark pairs
# translated by stsb_multi_mt. A bootstrap draws their items jointly across languages.
PARALLEL_ITEM_TASKS = frozenset(
    {
        "BibleClassification",
        "MassiveIntentClassification",
        "MassiveScenarioClassification",
        "SIB200Classification",
        "SIB200Classification.v3",
        "STSBenchmarkMultilingualSTS",
    }
)


def items_path(result_path: str | Path) -> Path:
    """Where the per-item table of ``results/eval/{model}/{task}.json`` lies."""
    result_path = Path(result_path)
    return result_path.with_name(result_path.stem + ITEMS_SUFFIX)


def _rows(
    split: str,
    subset: str,
    group: str,
    gold: Any,
    predicted: Any,
    experiment: int = 0,
    scores: bool = False,
) -> pd.DataFrame:
    gold, predicted = np.asarray(gold), np.asarray(predicted)
    frame = pd.DataFrame(
        {
            "split": split,
            "subset": subset,
            "group": group,
            "item": np.arange(len(predicted), dtype=np.int64),
            "experiment": np.int32(experiment),
            "gold": None if scores else gold.astype(np.int64),
            "predicted": None if scores else predicted.astype(np.int64),
            "gold_score": gold.astype(np.float64) if scores else None,
            "predicted_score": predicted.astype(np.float64) if scores else None,
        }
    )
    return frame


def item_group(task: str, subset: str) -> str:
    """The group of a (non-bitext) subset's items: shared by every subset of a parallel task."""
    return PARALLEL_GROUP if task in PARALLEL_ITEM_TASKS else subset


def resampling_groups(task: str, items: pd.DataFrame) -> tuple[dict[str, str], str]:
    """subset -> the group its items are drawn with, and a note ('' unless said below).

    The stored groups, except that every subset of a task in :data:`PARALLEL_ITEM_TASKS`
    shares :data:`PARALLEL_GROUP`, provided that its subsets hold the same items: as many,
    with the same gold label or score per item. Where they do not, each subset is drawn
    on its own and the note says so.
    """
    groups = items.groupby("subset", sort=False)["group"].first().to_dict()
    if task not in PARALLEL_ITEM_TASKS or len(groups) < 2:
        return groups, ""
    first = items[items["experiment"] == items["experiment"].min()]
    golds = [
        part.sort_values("item")[["item", "gold", "gold_score"]].reset_index(drop=True)
        for _, part in first.groupby("subset", sort=False)
    ]
    if all(gold.equals(golds[0]) for gold in golds[1:]):
        return dict.fromkeys(groups, PARALLEL_GROUP), ""
    log.warning("%s: items differ across languages; each language resampled alone", task)
    note = f"{task}'s items are not aligned across languages, so each language is resampled alone"
    return {subset: subset for subset in groups}, note


def _split_data(task: Any, subset: str, split: str) -> Any:
    dataset = task.dataset
    if subset in dataset:
        return dataset[subset][split]
    return dataset[split]


def _bitext_gold(data: Any, count: int) -> list[int]:
    # as mteb: gold[i][1] where the dataset names its matches (BUCC), else i matches i
    if "gold" in data.column_names:
        return [pair[1] for pair in data["gold"]][:count]
    return list(range(count))


def item_frames(task: Any, predictions: dict[str, Any]) -> list[pd.DataFrame]:
    """Rows of the items table from mteb's predictions JSON of ``task`` (data still loaded)."""
    kind = str(task.metadata.type)
    frames = []
    for subset, by_split in predictions.items():
        if subset == "mteb_model_meta":
            continue
        for split, value in by_split.items():
            if kind == "BitextMining":
                parallel = subset == PARALLEL_GROUP
                data = _split_data(task, subset, split)
                for key, neighbours in value.items() if isinstance(value, dict) else []:
                    name = key if parallel else subset
                    predicted = [n["corpus_id"] for n in neighbours]
                    gold = _bitext_gold(data, len(predicted))
                    group = PARALLEL_GROUP if parallel else subset
                    frames.append(_rows(split, name, group, gold, predicted))
            elif kind == "Classification":
                data = _split_data(task, subset, split)
                gold = list(data[task.label_column_name])
                group = item_group(task.metadata.name, subset)
                for experiment, predicted in enumerate(value):
                    frames.append(_rows(split, subset, group, gold, predicted, experiment))
            elif kind == "STS":
                data = _split_data(task, subset, split)
                gold = [task._normalize(score) for score in data["score"]]
                predicted = value.get("similarity_scores") or value["cosine_scores"]
                group = item_group(task.metadata.name, subset)
                frames.append(_rows(split, subset, group, gold, predicted, scores=True))
    return frames


def item_table(task: Any, prediction_file: Path | None) -> pa.Table:
    """The ITEMS table of one evaluation; empty for task types without per-item outputs."""
    frames = []
    if prediction_file is not None and prediction_file.exists():
        frames = item_frames(task, json.loads(prediction_file.read_text()))
    else:
        log.warning("%s: mteb wrote no predictions; no per-item outputs", task.metadata.name)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ITEMS.names)
    return pa.Table.from_pandas(frame, schema=ITEMS, preserve_index=False)


def _class_f1(gold: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> tuple:
    """Per-class F1 (sklearn's definition), support and presence, items weighted by counts."""
    classes = int(max(gold.max(initial=0), predicted.max(initial=0))) + 1
    support = np.bincount(gold, weights=weights, minlength=classes)
    predicted_count = np.bincount(predicted, weights=weights, minlength=classes)
    hits = np.bincount(gold, weights=weights * (gold == predicted), minlength=classes)
    total = support + predicted_count
    f1 = np.divide(2 * hits, total, out=np.zeros(classes), where=total > 0)
    return f1, support, total > 0


def weighted_f1(gold: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> float:
    """sklearn ``f1_score(average="weighted", zero_division=0)``, items weighted by counts."""
    f1, support, _ = _class_f1(gold, predicted, weights)
    return float((f1 * support).sum() / support.sum())


def macro_f1(gold: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> float:
    """sklearn ``f1_score(average="macro")`` over the labels seen in gold or predictions."""
    f1, _, present = _class_f1(gold, predicted, weights)
    return float(f1[present].mean())


def accuracy(gold: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> float:
    return float((weights * (gold == predicted)).sum() / weights.sum())


def spearman(gold: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> float:
    """Spearman correlation with each item repeated ``weights`` times."""
    repeats = weights.astype(np.int64)
    value = stats.spearmanr(np.repeat(gold, repeats), np.repeat(predicted, repeats))[0]
    return float(value)


METRIC_FUNCTIONS = {
    ("BitextMining", "f1"): weighted_f1,
    ("BitextMining", "accuracy"): accuracy,
    ("Classification", "accuracy"): accuracy,
    ("Classification", "f1"): macro_f1,
    ("STS", "cosine_spearman"): spearman,
}


def prepare(kind: str, rows: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(gold, predicted, item ids) per experiment of one subset's item rows."""
    prepared = []
    for _, part in rows.groupby("experiment", sort=True):
        part = part.sort_values("item")
        if kind == "STS":
            gold, predicted = part["gold_score"].to_numpy(), part["predicted_score"].to_numpy()
        else:
            gold = part["gold"].to_numpy(np.int64)
            predicted = part["predicted"].to_numpy(np.int64)
        prepared.append((gold, predicted, part["item"].to_numpy()))
    return prepared


def prepared_score(
    kind: str, metric: str, prepared: list, weights: np.ndarray | None = None
) -> float:
    """``metric`` from :func:`prepare` output, items counted ``weights[item]`` times.

    Classification averages the experiments, as mteb does.
    """
    function = METRIC_FUNCTIONS[(kind, metric)]
    values = [
        function(gold, predicted, np.ones(len(ids)) if weights is None else weights[ids])
        for gold, predicted, ids in prepared
    ]
    return float(np.mean(values))


def subset_score(
    kind: str, metric: str, rows: pd.DataFrame, weights: np.ndarray | None = None
) -> float:
    """``metric`` of one (split, subset) from its item rows; ``weights`` (n_items,) by item id."""
    return prepared_score(kind, metric, prepare(kind, rows), weights)


def item_scores(kind: str, items: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """(split, subset, metric) -> score recomputed from the items of one evaluation."""
    scores = {}
    for (split, subset), rows in items.groupby(["split", "subset"], sort=False):
        for metric in ITEM_METRICS.get(kind, ()):
            scores[(split, subset, metric)] = subset_score(kind, metric, rows)
    return scores


def check_item_scores(kind: str, items: pd.DataFrame, result: dict) -> int:
    """Raise if a score recomputed from the items differs from mteb's; returns how many matched."""
    recomputed = item_scores(kind, items)
    checked = 0
    for split, entries in result["scores"].items():
        for entry in entries:
            for metric in ITEM_METRICS.get(kind, ()):
                key = (split, entry["hf_subset"], metric)
                if key not in recomputed or not math.isfinite(entry.get(metric, math.nan)):
                    continue
                if abs(recomputed[key] - entry[metric]) > TOLERANCE:
                    raise RuntimeError(
                        f"{result['task_name']} {key}: {recomputed[key]} from the per-item "
                        f"outputs, {entry[metric]} from mteb"
                    )
                checked += 1
    return checked
