"""summary.md: paper-style tables from the scores table.

Scores are shown x100. Every table says how it was averaged; gains of multi-way over
En-X sit beside the paper's reported gains.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .stats import (
    PAPER_GAINS,
    SUBSETS,
    comparable_pairs,
    main_scores,
    model_averages,
    paired_test,
    relative_gain,
    run_averages,
)

SPREAD_FACTOR = 2.0  # a difference "exceeds the seed spread" when |diff| > 2 x seed s.d.
TYPE_TITLES = {"BitextMining": "Bitext mining", "STS": "STS", "Classification": "Classification"}


def markdown_table(header: list[str], rows: Iterable[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float, std: float = math.nan, scale: float = 100.0) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{scale * value:.1f}"
    return text + (f" ± {scale * std:.1f}" if math.isfinite(std) else "")


def fmt_gain(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:+.1f}%"


def models_section(models: dict[str, dict]) -> str:
    header = [
        "model",
        "run",
        "student",
        "data",
        "objective",
        "seed",
        "training languages",
        "weights",
    ]
    rows = [
        [
            m,
            i["run"],
            i["student"],
            i["data"],
            i["objective"],
            i["seed"],
            " ".join(i["languages"]) or "–",
            i["provenance"] or "–",
        ]
        for m, i in models.items()
    ]
    return "## Models\n\n" + markdown_table(header, rows)


def type_section(kind: str, runs: pd.DataFrame, tasks: list[str]) -> str:
    part = runs[runs["task_type"] == kind]
    header = ["student", "run", "data", "objective", "seeds", *SUBSETS]
    rows = []
    for (student, run), group in part.groupby(["student", "run"], sort=False):
        first = group.iloc[0]
        cells = {row["group"]: fmt(row["mean"], row["std"]) for _, row in group.iterrows()}
        rows.append(
            [
                student,
                run,
                first["data"],
                first["objective"],
                int(group["seeds"].max()),
                *[cells.get(g, "–") for g in SUBSETS],
            ]
        )
    title = TYPE_TITLES.get(kind, kind)
    note = (
        f"Main score averaged over each task's subsets, then over tasks ({', '.join(tasks)}); "
        "mean ± s.d. over seeds where a run has several."
    )
    return f"## {title}\n\n{note}\n\n" + markdown_table(header, rows)


def gains_section(scores: pd.DataFrame, averages: pd.DataFrame, runs: pd.DataFrame) -> str:
    pairs = comparable_pairs(runs)
    if not pairs:
        return "## Multi-way vs En-X\n\nNo pair of runs differing only in data (multiway vs enx)."
    header = [
        "task type",
        "student",
        "objective",
        "multi-way",
        "En-X",
        *[f"gain {g}" for g in SUBSETS],
        "paper",
        "Δ all (points)",
        "seed s.d.",
        "test",
        "p",
        "exceeds spread",
    ]
    rows = []
    for kind in runs["task_type"].unique():
        for multiway, enx in pairs:
            rows.append(_gain_row(scores, averages, runs, kind, multiway, enx))
    note = (
        "Relative gain = (multi-way − En-X) / En-X of the averages above. The paper "
        "(arXiv 2602.21543) reports +21.3% bitext mining, +5.3% STS, +28.4% classification. "
        f"'exceeds spread': |Δ| > {SPREAD_FACTOR:g} × the seed-to-seed s.d. (needs ≥ 2 seeds). "
        "The test is a paired t-test over seeds when both runs have several, otherwise a "
        "Wilcoxon signed-rank test over the task's subsets (language pairs)."
    )
    return "## Multi-way vs En-X\n\n" + note + "\n\n" + markdown_table(header, rows)


def _gain_row(scores, averages, runs, kind, multiway, enx) -> list:
    part = runs[runs["task_type"] == kind].set_index(["run", "group"])
    gains = []
    for group in SUBSETS:
        a = part["mean"].get((multiway, group), math.nan)
        b = part["mean"].get((enx, group), math.nan)
        gains.append(fmt_gain(relative_gain(a, b)))
    test = paired_test(averages, scores, multiway, enx, kind, "all")
    spread = test["spread"]
    exceeds = (
        "–"
        if not math.isfinite(spread)
        else ("yes" if abs(test["diff"]) > SPREAD_FACTOR * spread else "no")
    )
    info = runs[runs["run"] == multiway].iloc[0]
    paper = PAPER_GAINS.get(kind)
    return [
        TYPE_TITLES.get(kind, kind),
        info["student"],
        info["objective"],
        multiway,
        enx,
        *gains,
        f"+{paper}%" if paper else "–",
        fmt(test["diff"]),
        fmt(spread),
        test["test"],
        "–" if not math.isfinite(test["p"]) else f"{test['p']:.3g}",
        exceeds,
    ]


def language_section(scores: pd.DataFrame, task: str) -> str:
    """Per-language table of one task: rows languages, columns runs (mean over seeds)."""
    main = main_scores(scores)
    main = main[main["task"] == task].copy()
    main["code"] = main["language"].map(_non_english)
    tags = main.groupby("code")["seen"].agg(lambda s: "/".join(sorted(set(s))))
    table = main.groupby(["code", "run"], sort=False)["score"].mean().unstack("run")
    run_order = list(dict.fromkeys(main["run"]))
    table = table.reindex(columns=run_order)
    order = sorted(table.index, key=lambda code: (tags[code] != "seen", code))
    rows = [[code, tags[code], *[fmt(table.loc[code, run]) for run in run_order]] for code in order]
    note = (
        "Main score per language (both directions averaged where the task has them); "
        "seen/unseen as tagged for the trained runs (base students count their runs' languages)."
    )
    return f"### {task}: per language\n\n{note}\n\n" + markdown_table(
        ["language", "seen", *run_order], rows
    )


NON_ENGLISH_PAIRS = "pairs without English"


def _non_english(language: str) -> str:
    """Row key of a subset: its non-English language; one shared key for X-Y pairs."""
    codes = {c for c in language.split(":")[0].split("-") if c != "en"}
    if len(codes) > 1:
        return NON_ENGLISH_PAIRS
    return codes.pop() if codes else "en"


def render_summary(scores: pd.DataFrame, models: dict[str, dict], figures: list[str]) -> str:
    """The whole summary.md text."""
    averages = model_averages(scores)
    runs = run_averages(averages)
    parts = [
        "# multiway-align: results",
        "Scores are mteb main scores × 100 (bitext mining: F1; classification: accuracy; "
        "STS: Spearman correlation of cosine similarities). 'seen' = English and the "
        "languages a model was trained on; 'unseen' = every other language.",
        models_section(models),
    ]
    for kind in runs["task_type"].unique():
        tasks = sorted(scores.loc[scores["task_type"] == kind, "task"].unique())
        parts.append(type_section(kind, runs, tasks))
    parts.append(gains_section(scores, averages, runs))
    parts.append("## Per language")
    parts += [language_section(scores, task) for task in scores["task"].unique()]
    if figures:
        images = [f"![{Path(name).stem}]({name})" for name in figures]
        parts.append("## Figures\n\n" + "\n".join(images))
    return "\n\n".join(parts) + "\n"
