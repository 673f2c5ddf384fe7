"""Aggregates of the scores table the way the paper reports them.

The paper's number for a task type is the main score averaged over the languages
(subsets) of each task, then over the tasks of that type. Here the same is done per
model, then over the seeds of a run (mean and standard deviation), separately for
all, seen and unseen subsets. Only each task's evaluation split counts (``test``, or
the task's designated test split such as FLORES' ``devtest``): other splits mteb
evaluated stay in the scores table and get a table of their own.

Two refinements keep the averages comparable across tasks and with English-centric
training:

- The headline groups (all, seen, unseen) hold English-centric subsets only: a
  single language, or a pair with English on one side. Pairs without English
  (FloresBitextMining's X-Y pairs, STS22's de-fr) form a group of their own,
  :data:`NON_ENGLISH_PAIRS`: En-X training never sees such a pair, so mixing them in
  would reward multi-way data on pairs the other side never trains, and FLORES (240 of
  its 272 ordered pairs lack English) would not compare with Tatoeba or BUCC.
- Each language counts once within a task: subsets holding the same languages
  (AmazonCounterfactual's ``en`` and ``en-ext``; the two directions of a bitext pair)
  are averaged first, then the languages (:func:`task_mean`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mwalign.paths import SOURCE_LANGUAGE

MAIN = "main_score"
SUBSETS = ("all", "seen", "unseen")  # the headline groups: English-centric subsets
NON_ENGLISH_PAIRS = "pairs without English"
GROUPS = (*SUBSETS, NON_ENGLISH_PAIRS)
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


def english_centric(language: str) -> bool:
    """A subset's languages (config codes joined by '-'): one language, or English in the pair."""
    codes = language.split("-")
    return len(set(codes)) == 1 or SOURCE_LANGUAGE in codes


def in_group(frame: pd.DataFrame, group: str) -> np.ndarray:
    """Mask of the rows (with ``language`` and ``seen`` columns) that belong to ``group``."""
    centric = frame["language"].map(english_centric).to_numpy(bool)
    if group == NON_ENGLISH_PAIRS:
        return ~centric
    if group == "all":
        return centric
    return centric & (frame["seen"] == group).to_numpy()


def language_set(language: str) -> str:
    """The languages of a subset regardless of order: ``de-en`` and ``en-de`` are one."""
    return "-".join(sorted(set(language.split("-"))))


def language_weights(frame: pd.DataFrame, by: Sequence[str]) -> np.ndarray:
    """Per row: 1 / the number of rows of its ``by`` group (a task of a model) that hold the
    same languages, so that each language of a task weighs as much in total."""
    keys = frame["language"].map(language_set)
    counts = keys.groupby([frame[column] for column in by] + [keys]).transform("size")
    return 1.0 / counts.to_numpy(float)


def task_mean(values: np.ndarray, languages: Sequence[str]) -> np.ndarray:
    """Mean over one task's subsets (axis 0) with each language counted once.

    ``languages`` names each subset's languages; subsets with the same set of languages
    are averaged first. Where every language has as many subsets (both directions of
    every pair), this is the plain mean, computed as such.
    """
    frame = pd.DataFrame({"task": 0, "language": list(languages)})
    weights = language_weights(frame, ["task"])
    if (weights == weights[0]).all():
        return values.mean(0)
    return np.tensordot(weights, values, axes=1) / weights.sum()


def shared_languages(scores: pd.DataFrame) -> dict[str, list[list[str]]]:
    """task -> the groups of its subsets that hold one language and are averaged first,
    where :func:`task_mean` differs from the plain mean (languages with uneven counts)."""
    main = main_scores(scores).drop_duplicates(["task", "subset"])
    shared = {}
    for task, part in main.groupby("task", sort=False):
        subsets = part.groupby(part["language"].map(language_set), sort=True)["subset"]
        counts = subsets.size()
        if counts.nunique() > 1:
            shared[task] = [sorted(names) for names in subsets.unique() if len(names) > 1]
    return shared


def model_averages(scores: pd.DataFrame, metric: str = MAIN) -> pd.DataFrame:
    """Per (model, task type, group): mean over each task's subsets (each language once,
    :func:`task_mean`), then over tasks; groups :data:`GROUPS`, each where it has subsets.

    Columns: model, run, student, data, objective, seed, task_type, group, score.
    """
    main = main_scores(scores, metric)
    keys = ["model", "run", "student", "data", "objective", "seed", "task_type"]
    main = main.assign(weight=language_weights(main, ["model", "task"]))
    frames = []
    for group in GROUPS:
        part = main[in_group(main, group)]
        grouped = part.groupby([*keys, "task"])
        per_task = grouped["score"].mean()
        uneven = grouped["weight"].nunique() > 1
        if uneven.any():
            weighted = (part["score"] * part["weight"]).groupby([part[k] for k in [*keys, "task"]])
            per_task[uneven] = (weighted.sum() / grouped["weight"].sum())[uneven]
        per_type = per_task.reset_index().groupby(keys, as_index=False)["score"].mean()
        if not per_type.empty:
            frames.append(per_type.assign(group=group))
    if not frames:
        return pd.DataFrame(columns=[*keys, "score", "group"])
    return pd.concat(frames, ignore_index=True)


def run_averages(averages: pd.DataFrame) -> pd.DataFrame:
    """Seeds of a run pooled: mean, std (ddof=1, NaN with one seed) and number of seeds."""
    keys = ["run", "student", "data", "objective", "task_type", "group"]
    grouped = averages.groupby(keys, as_index=False)["score"]
    return grouped.agg(mean="mean", std="std", seeds="count")


# A relative gain (A − B) / B is withheld where B is less than this far above chance
# (score units: 0.10 = 10 points): near chance the ratio grows without bound and its
# interval spans hundreds of percent, while the difference in points still reads.
NEAR_CHANCE = 0.10


def near_chance(score_b: float, chance: float) -> bool:
    """Whether B's score is less than :data:`NEAR_CHANCE` above ``chance`` (NaN: 0)."""
    chance = chance if math.isfinite(chance) else 0.0
    return math.isfinite(score_b) and score_b - chance < NEAR_CHANCE


def relative_gain(multiway: float, enx: float) -> float:
    """(multiway - enx) / enx in percent; NaN when enx is 0 or missing."""
    if enx is None or not math.isfinite(enx) or enx == 0:
        return math.nan
    return 100.0 * (multiway - enx) / enx
