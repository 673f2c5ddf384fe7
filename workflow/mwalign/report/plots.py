"""Matplotlib PNGs of the report: per-language scores per student, gains per task type."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mwalign.io import atomic_path  # noqa: E402

from .stats import PAPER_GAINS, SUBSETS, comparable_pairs, main_scores, relative_gain  # noqa: E402
from .summary import _non_english  # noqa: E402


def _save(figure: plt.Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)


def language_plot(scores: pd.DataFrame, task: str, student: str, path: Path) -> None:
    """Grouped bars: one group per language (seen first), one bar per run of ``student``."""
    main = main_scores(scores)
    main = main[(main["task"] == task) & (main["student"] == student)].copy()
    main["code"] = main["language"].map(_non_english)
    table = main.groupby(["code", "run"], sort=False)["score"].mean().unstack("run")
    seen = main.groupby("code")["seen"].agg(lambda s: (s == "seen").any())
    order = sorted(table.index, key=lambda code: (not seen[code], code))
    runs = list(dict.fromkeys(main["run"]))
    width = 0.8 / max(len(runs), 1)
    figure, axes = plt.subplots(figsize=(max(6, 0.6 * len(order) * max(len(runs), 1)), 4))
    positions = np.arange(len(order))
    for i, run in enumerate(runs):
        axes.bar(positions + i * width, 100 * table.loc[order, run], width, label=run)
    axes.set_xticks(positions + width * (len(runs) - 1) / 2)
    axes.set_xticklabels([f"{c}\n{'seen' if seen[c] else 'unseen'}" for c in order], fontsize=8)
    axes.set_ylabel("main score × 100")
    axes.set_title(f"{task}, student {student}")
    axes.legend(fontsize=8)
    _save(figure, path)


def gain_plot(runs: pd.DataFrame, path: Path) -> bool:
    """Bars: relative gain of multi-way over En-X per task type and subset group, vs the paper."""
    pairs = comparable_pairs(runs)
    if not pairs:
        return False
    kinds = list(runs["task_type"].unique())
    labels, values = [], {group: [] for group in SUBSETS}
    indexed = runs.set_index(["run", "task_type", "group"])["mean"]
    for multiway, enx in pairs:
        for kind in kinds:
            labels.append(f"{kind}\n{multiway} vs {enx}")
            for group in SUBSETS:
                a = indexed.get((multiway, kind, group), math.nan)
                b = indexed.get((enx, kind, group), math.nan)
                values[group].append(relative_gain(a, b))
    positions = np.arange(len(labels))
    figure, axes = plt.subplots(figsize=(max(6, 1.8 * len(labels)), 4))
    for i, group in enumerate(SUBSETS):
        axes.bar(positions + (i - 1) * 0.25, values[group], 0.25, label=group)
    paper = [PAPER_GAINS.get(label.split("\n")[0], math.nan) for label in labels]
    axes.scatter(positions, paper, marker="_", s=600, color="black", label="paper (all)")
    axes.axhline(0, color="grey", linewidth=0.8)
    axes.set_xticks(positions)
    axes.set_xticklabels(labels, fontsize=8)
    axes.set_ylabel("relative gain of multi-way over En-X (%)")
    axes.legend(fontsize=8)
    _save(figure, path)
    return True
