"""Aggregates of the scores table the way the paper reports them, with seed statistics.

The paper's number for a task type is the main score averaged over the languages
(subsets) of each task, then over the tasks of that type. Here the same is done per
model, then over the seeds of a run (mean and standard deviation), separately for
all, seen and unseen subsets.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

MAIN = "main_score"
SUBSETS = ("all", "seen", "unseen")
# Relative gains of multi-way over En-X reported by the paper (arXiv 2602.21543), percent.
PAPER_GAINS = {"BitextMining": 21.3, "STS": 5.3, "Classification": 28.4}


def main_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Only the main-score rows."""
    return scores[scores["metric"] == MAIN]


def model_averages(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (model, task type, subset group): mean over each task's subsets, then over tasks.

    Columns: model, run, student, data, objective, seed, task_type, group, score.
    """
    main = main_scores(scores)
    keys = ["model", "run", "student", "data", "objective", "seed", "task_type"]
    frames = []
    for group in SUBSETS:
        part = main if group == "all" else main[main["seen"] == group]
        per_task = part.groupby([*keys, "task"], as_index=False)["score"].mean()
        per_type = per_task.groupby(keys, as_index=False)["score"].mean()
        frames.append(per_type.assign(group=group))
    return pd.concat(frames, ignore_index=True)


def run_averages(averages: pd.DataFrame) -> pd.DataFrame:
    """Seeds of a run pooled: mean, std (ddof=1, NaN with one seed) and number of seeds."""
    keys = ["run", "student", "data", "objective", "task_type", "group"]
    grouped = averages.groupby(keys, as_index=False)["score"]
    return grouped.agg(mean="mean", std="std", seeds="count")


def comparable_pairs(models: pd.DataFrame) -> list[tuple[str, str]]:
    """(multiway run, enx run) pairs with the same student and objective."""
    runs = models.drop_duplicates("run")
    pairs = []
    for _, multiway in runs[runs["data"] == "multiway"].iterrows():
        same = runs[
            (runs["data"] == "enx")
            & (runs["student"] == multiway["student"])
            & (runs["objective"] == multiway["objective"])
        ]
        pairs += [(multiway["run"], enx) for enx in same["run"]]
    return pairs


def relative_gain(multiway: float, enx: float) -> float:
    """(multiway - enx) / enx in percent; NaN when enx is 0 or missing."""
    if enx is None or not math.isfinite(enx) or enx == 0:
        return math.nan
    return 100.0 * (multiway - enx) / enx


def paired_test(
    averages: pd.DataFrame, scores: pd.DataFrame, run_a: str, run_b: str, task_type: str, group: str
) -> dict:
    """Is run_a different from run_b? Over seeds when both have >= 2 paired seeds, else items.

    Seeds: paired t-test on the per-seed averages (seeds matched by their index).
    Items: Wilcoxon signed-rank test over the subsets (language pairs) of the task
    type, each subset's main score averaged over seeds.
    """
    pick = averages[(averages["task_type"] == task_type) & (averages["group"] == group)]
    a = pick[pick["run"] == run_a].set_index("seed")["score"]
    b = pick[pick["run"] == run_b].set_index("seed")["score"]
    common = a.index.intersection(b.index)
    spread = float(np.nanmean([a.std(ddof=1), b.std(ddof=1)])) if len(common) >= 2 else math.nan
    if len(common) >= 2:
        diffs = a[common] - b[common]
        p = _ttest_p(diffs)
        return {
            "test": f"paired t-test over {len(common)} seeds",
            "p": p,
            "spread": spread,
            "diff": float(diffs.mean()),
        }
    items = _subset_means(scores, run_a, run_b, task_type, group)
    p = math.nan
    if len(items) >= 2 and (items["a"] != items["b"]).any():
        p = float(stats.wilcoxon(items["a"], items["b"]).pvalue)
    return {
        "test": f"Wilcoxon signed-rank over {len(items)} subsets",
        "p": p,
        "spread": spread,
        "diff": float(a.mean() - b.mean()) if len(a) and len(b) else math.nan,
    }


def _ttest_p(diffs: pd.Series) -> float:
    if np.allclose(diffs, diffs.iloc[0]):
        return 0.0 if diffs.iloc[0] != 0 else 1.0
    return float(stats.ttest_1samp(diffs, 0.0).pvalue)


def _subset_means(
    scores: pd.DataFrame, run_a: str, run_b: str, task_type: str, group: str
) -> pd.DataFrame:
    main = main_scores(scores)
    main = main[main["task_type"] == task_type]
    if group != "all":
        main = main[main["seen"] == group]
    per = main.groupby(["run", "task", "language"])["score"].mean()
    a = per.xs(run_a, level="run") if run_a in per.index.get_level_values("run") else pd.Series()
    b = per.xs(run_b, level="run") if run_b in per.index.get_level_values("run") else pd.Series()
    joined = pd.concat({"a": a, "b": b}, axis=1).dropna()
    return joined
