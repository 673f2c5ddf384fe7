"""Aggregates of the scores table the way the paper reports them.

The paper's number for a task type is the main score averaged over the languages
(subsets) of each task, then over the tasks of that type. Here the same is done per
model, then over the seeds of a run (mean and standard deviation), separately for
all, seen and unseen subsets. Only each task's evaluation split counts (``test``, or
the task's designated test split such as FLORES' ``devtest``): other splits mteb
evaluated stay in the scores table and get a table of their own.
"""

from __future__ import annotations

import math

import pandas as pd

MAIN = "main_score"
SUBSETS = ("all", "seen", "unseen")
# Relative gains of multi-way over En-X reported by the paper (arXiv 2602.21543), percent:
# results of its XLM-R and mBERT students. For mE5 the abstract only says that fine-tuning
# on a small multi-way set improves bitext mining.
PAPER_GAINS = {"BitextMining": 21.3, "STS": 5.3, "Classification": 28.4}
PAPER_STUDENTS = ("xlm-roberta", "bert-base-multilingual")
PAPER_ME5 = "multilingual-e5"


def paper_gain(kind: str, model_id: str) -> str:
    """The paper's reported gain for a task type and a student (by its model id), or '–'."""
    model_id = model_id.lower()
    if any(name in model_id for name in PAPER_STUDENTS) and kind in PAPER_GAINS:
        return f"+{PAPER_GAINS[kind]}%"
    if PAPER_ME5 in model_id and kind == "BitextMining":
        return "improves (no number)"
    return "–"


def main_scores(scores: pd.DataFrame, metric: str = MAIN) -> pd.DataFrame:
    """The rows of ``metric`` (the main score by default) of each task's evaluation split."""
    return scores[(scores["metric"] == metric) & scores["evaluation"]]


def model_averages(scores: pd.DataFrame, metric: str = MAIN) -> pd.DataFrame:
    """Per (model, task type, subset group): mean over each task's subsets, then over tasks.

    Columns: model, run, student, data, objective, seed, task_type, group, score.
    """
    main = main_scores(scores, metric)
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
