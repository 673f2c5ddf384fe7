"""summary.md: paper-style tables from the scores table and the run comparisons.

Scores are shown x100. Every table says how it was averaged and what its intervals
mean; aggregates use each task's evaluation split only (other splits get their own
table); the paper's gains sit only beside a comparison that follows its protocol
(:data:`.pairing.PAPER_PROTOCOL`), for the students the paper reports them for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from .compare import format_p, language_key
from .pairing import PAPER_PROTOCOL
from .stats import (
    GROUPS,
    NEAR_CHANCE,
    NON_ENGLISH_PAIRS,
    SUBSETS,
    main_scores,
    paper_gain,
    run_averages,
    shared_languages,
)

TYPE_TITLES = {"BitextMining": "Bitext mining", "STS": "STS", "Classification": "Classification"}
METRIC_NAMES = {
    "BitextMining": "F1",
    "Classification": "accuracy",
    "STS": "Spearman correlation of cosine similarities",
}
MACRO_F1 = "f1"  # mteb's classification "f1" is the macro average over classes


PROTOCOL_TEXT = "; ".join(
    f"{side}: " + ", ".join(f"{key} {value}" for key, value in wanted.items())
    for side, wanted in PAPER_PROTOCOL.items()
)


def markdown_table(header: list[str], rows: Iterable[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float, std: float = math.nan, scale: float = 100.0) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{scale * value:.1f}"
    return text + (f" ± {scale * std:.1f}" if math.isfinite(std) else "")


def fmt_interval(low: float, high: float, scale: float = 100.0, unit: str = "") -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "–"
    return f"[{scale * low:+.1f},\u00a0{scale * high:+.1f}]{unit}"  # no break inside


def fmt_gain(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:+.1f}%"


def header_section(experiment: dict) -> str:
    """What was run: config hash, languages, students, package versions, machine."""
    students = "; ".join(f"{name} ({model})" for name, model in experiment["students"].items())
    lines = [
        f"- config sha256: `{experiment['config_hash'][:16]}`",
        f"- training languages: {' '.join(experiment['languages'])}; "
        f"unseen: {' '.join(experiment['unseen_languages']) or '–'}",
        f"- students: {students or '–'}",
        "- versions: "
        + ", ".join(f"{name} {version}" for name, version in experiment["versions"].items()),
        f"- machine of the report: {experiment['machine']}",
    ]
    return "## Experiment\n\n" + "\n".join(lines)


def models_section(models: dict[str, dict]) -> str:
    header = [
        "model",
        "run",
        "student",
        "model id",
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
            i["model_id"] or "–",
            i["data"],
            i["objective"],
            i["seed"],
            " ".join(i["languages"]) or "–",
            i["provenance"] or "–",
        ]
        for m, i in models.items()
    ]
    return "## Models\n\n" + markdown_table(header, rows)


def type_section(
    kind: str,
    runs: pd.DataFrame,
    tasks: list[str],
    macro: pd.DataFrame | None,
    shared: dict[str, list[list[str]]] | None = None,
) -> str:
    part = runs[runs["task_type"] == kind]
    groups = [g for g in GROUPS if g in SUBSETS or (part["group"] == g).any()]
    header = ["student", "run", "data", "objective", "seeds", *groups]
    if macro is not None:
        header += [f"macro-F1 {g}" for g in SUBSETS]
    rows = []
    for (student, run), group in part.groupby(["student", "run"], sort=False):
        first = group.iloc[0]
        cells = {row["group"]: fmt(row["mean"], row["std"]) for _, row in group.iterrows()}
        row = [student, run, first["data"], first["objective"], int(group["seeds"].max())]
        row += [cells.get(g, "–") for g in groups]
        if macro is not None:
            extra = macro[(macro["task_type"] == kind) & (macro["run"] == run)]
            f1 = {r["group"]: fmt(r["mean"], r["std"]) for _, r in extra.iterrows()}
            row += [f1.get(g, "–") for g in SUBSETS]
        rows.append(row)
    title = TYPE_TITLES.get(kind, kind)
    note = (
        f"{METRIC_NAMES.get(kind, 'main score')} × 100 on each task's evaluation split, averaged "
        f"over each task's subsets, then over tasks ({', '.join(tasks)}); mean ± s.d. over "
        "seeds where a run has several."
    )
    if len(groups) > len(SUBSETS):
        note += (
            f" All, seen and unseen: subsets in one language or with English on one side; "
            f"'{NON_ENGLISH_PAIRS}': the pairs of two other languages, which En-X data never "
            "pairs, averaged on their own."
        )
    repeated = [
        f"{task} ({', '.join(' and '.join(names) for names in shared[task])})"
        for task in tasks
        if shared and task in shared
    ]
    if repeated:
        note += (
            " Each language counts once in its task: subsets of one language are averaged "
            f"first: {'; '.join(repeated)}."
        )
    if macro is not None:
        note += " Macro-F1: F1 per class averaged over classes, same averaging."
    return f"## {title}\n\n{note}\n\n" + markdown_table(header, rows)


def chance_section(chance: pd.DataFrame) -> str:
    """Majority-class rate of each classification task's test items: a score at chance."""
    if chance.empty:
        return ""
    rows = [
        [r["task"], r["subsets"], r["items"], r["classes"], fmt(r["majority"]), fmt(r["uniform"])]
        for _, r in chance.iterrows()
    ]
    return (
        "### Classification: chance levels\n\nAccuracy of always answering the most frequent "
        "test label (majority-class rate) and of guessing uniformly, × 100.\n\n"
        + markdown_table(
            ["task", "subsets", "test items", "classes", "majority class", "uniform guess"], rows
        )
    )


def _interval_source(row: pd.Series) -> str:
    if row["method"] != "seeds":
        return "items (bootstrap)"
    return f"seeds ({row['one_seed']}: one seed)" if row.get("one_seed") else "seeds"


def _gain_cells(row: pd.Series) -> list[str]:
    if row.get("gain_withheld", False):
        return [f"withheld (B − chance: {100 * (row['b'] - row['chance']):+.1f} points)", "–"]
    return [
        fmt_gain(row["gain"]),
        fmt_interval(row["gain_low"], row["gain_high"], scale=1.0, unit="%"),
    ]


WITHHELD_NOTE = (
    "Relative gain withheld where B is less than {points:g} points above chance "
    "(classification: the majority-class rate of its test items; bitext mining and STS: 0): "
    "a ratio over a score that close to chance swings without bound, so only the difference "
    "in points is given."
)


def _not_compared(lines: Sequence[str]) -> str:
    if not lines:
        return ""
    items = "\n".join(f"- {line}" for line in lines)
    return f"\n\nNot compared (their training settings differ beyond the data):\n\n{items}"


def comparison_section(
    title: str, note: str, table: pd.DataFrame, models: dict, not_compared: Sequence[str] = ()
) -> str:
    """One row per (comparison, task type, group) of :func:`.compare.compare_runs` output;
    then each pair's matching and what each side saw (``sides``), how its intervals were
    made, what it left out, and the candidate pairs ``not_compared`` (with why)."""
    if table.empty:
        return f"## {title}\n\nNo such pair of runs." + _not_compared(not_compared)
    part = table[table["level"] == "aggregate"]
    model_ids = {info["run"]: info["model_id"] for info in models.values()}
    level = f"{100 * table['confidence'].iloc[0]:g}%"
    header = [
        "task type",
        "group",
        "A",
        "B",
        "A score",
        "B score",
        "A − B (points)",
        f"{level} CI",
        "relative gain",
        f"{level} CI (gain)",
        "paper",
        "p",
        "interval from",
    ]
    rows = []
    for _, r in part.iterrows():
        rows.append(
            [
                TYPE_TITLES.get(r["task_type"], r["task_type"]),
                r["group"],
                r["run_a"],
                r["run_b"],
                fmt(r["a"]),
                fmt(r["b"]),
                f"{100 * r['diff']:+.2f}",
                fmt_interval(r["low"], r["high"]),
                *_gain_cells(r),
                paper_gain(r["task_type"], model_ids.get(r["run_a"], ""))
                if r["group"] == "all" and r.get("paper_protocol", False)
                else "–",
                format_p(r["p"], r["p_floor"]),
                _interval_source(r),
            ]
        )
    text = f"## {title}\n\n{note}\n\n{markdown_table(header, rows)}"
    if part.get("gain_withheld", pd.Series(dtype=bool)).any():
        text += "\n\n" + WITHHELD_NOTE.format(points=100 * NEAR_CHANCE)
    by_pair = table.groupby(["run_a", "run_b"])
    if "sides" in table:
        sides = "\n".join(f"- {a} vs {b}: {t}" for (a, b), t in by_pair["sides"].first().items())
        text += f"\n\nMatching and what each side saw in training:\n\n{sides}"
    methods = "\n".join(
        f"- {a} vs {b}: {d}" for (a, b), d in by_pair["description"].first().items()
    )
    text += f"\n\nIntervals and p-values:\n\n{methods}"
    if "left_out" in table:
        dropped = [(pair, notes) for pair, notes in by_pair["left_out"].first().items() if notes]
        if dropped:
            lines = "\n".join(f"- {a} vs {b}: {notes}" for (a, b), notes in dropped)
            text += f"\n\nLeft out of the comparison (one side lacks them):\n\n{lines}"
    return text + _not_compared(not_compared)


def language_difference_section(table: pd.DataFrame) -> str:
    part = table[table["level"] == "language"] if not table.empty else table
    if part.empty:
        return ""
    header = [
        "task",
        "language",
        "seen",
        "A",
        "B",
        "A score",
        "B score",
        "A − B (points)",
        f"{100 * part['confidence'].iloc[0]:g}% CI",
        "p",
    ]
    rows = [
        [
            r["task"],
            r["language"],
            r["group"],
            r["run_a"],
            r["run_b"],
            fmt(r["a"]),
            fmt(r["b"]),
            f"{100 * r['diff']:+.2f}",
            fmt_interval(r["low"], r["high"]),
            format_p(r["p"], r["p_floor"]),
        ]
        for _, r in part.iterrows()
    ]
    return (
        "### Differences per language\n\nBoth directions of a pair averaged; "
        "intervals as above.\n\n" + markdown_table(header, rows)
    )


def coverage_section(scores: pd.DataFrame, languages: list[str]) -> str:
    """Per task: the subsets evaluated, the configured languages found and those it lacks."""
    rows = []
    for task, part in scores[scores["evaluation"]].groupby("task", sort=False):
        subsets = sorted(part["subset"].unique())
        found = {c for lang in part["language"].unique() for c in lang.split("-")}
        missing = [code for code in languages if code not in found]
        rows.append(
            [
                task,
                part["split"].iloc[0],
                " ".join(code for code in languages if code in found) or "–",
                " ".join(missing) or "none",
                len(subsets),
                ", ".join(subsets),
            ]
        )
    note = (
        "Per task (evaluation split): the configured languages "
        f"({' '.join(languages)}) found in its evaluated subsets, those the task does not "
        "have, and the subsets evaluated."
    )
    header = [
        "task",
        "split",
        "languages found",
        "missing languages",
        "subsets",
        "evaluated subsets",
    ]
    return "## Languages per task\n\n" + note + "\n\n" + markdown_table(header, rows)


def other_splits_section(scores: pd.DataFrame) -> str:
    rest = scores[(scores["metric"] == "main_score") & ~scores["evaluation"]]
    if rest.empty:
        return ""
    table = rest.groupby(["task", "split", "run"], sort=False)["score"].mean().unstack("run")
    rows = [
        [task, split, *[fmt(v) for v in values]]
        for (task, split), values in zip(table.index, table.to_numpy(), strict=True)
    ]
    return (
        "## Other splits\n\nMain score × 100 averaged over subsets, on splits other than each "
        "task's evaluation split; never part of the aggregates or tests above.\n\n"
        + markdown_table(["task", "split", *table.columns], rows)
    )


def language_section(scores: pd.DataFrame, task: str) -> str:
    """Per-language table of one task: rows languages, columns runs (mean over seeds)."""
    main = main_scores(scores)
    main = main[main["task"] == task].copy()
    main["code"] = main["language"].map(language_key)
    tags = main.groupby("code")["seen"].agg(lambda s: "/".join(sorted(set(s))))
    table = main.groupby(["code", "run"], sort=False)["score"].mean().unstack("run")
    run_order = list(dict.fromkeys(main["run"]))
    table = table.reindex(columns=run_order)
    order = sorted(
        table.index, key=lambda code: (tags[code] != "seen", code == NON_ENGLISH_PAIRS, code)
    )
    rows = [[code, tags[code], *[fmt(table.loc[code, run]) for run in run_order]] for code in order]
    note = (
        "Main score per language (both directions averaged where the task has them); "
        "seen/unseen as tagged for the trained runs (base students count their runs' languages)."
    )
    return f"### {task}: per language\n\n{note}\n\n" + markdown_table(
        ["language", "seen", *run_order], rows
    )


def render_summary(
    scores: pd.DataFrame,
    models: dict[str, dict],
    figures: list[str],
    *,
    averages: pd.DataFrame,
    macro: pd.DataFrame,
    pairs: pd.DataFrame,
    trained: pd.DataFrame,
    chance: pd.DataFrame,
    experiment: dict | None,
    not_compared: Sequence[str] = (),
    training: str = "",
) -> str:
    """The whole summary.md text; ``not_compared``: the multi-way and En-X runs left
    uncompared, each with why (:class:`.pairing.NotCompared`); ``training``: the section on
    training length and sweeps (:func:`mwalign.report.training.training_section`)."""
    runs = run_averages(averages)
    macro_runs = run_averages(macro) if not macro.empty else macro
    parts = [
        "# multiway-align: results",
        "Scores are mteb main scores × 100 (bitext mining: F1; classification: accuracy, "
        "macro-F1 beside it; STS: Spearman correlation of cosine similarities) on each "
        "task's evaluation split. 'seen' = English and the languages a model was trained "
        "on; 'unseen' = every other language.",
    ]
    if experiment:
        parts.append(header_section(experiment))
    figure_lines = [f"![{Path(name).stem}]({name})" for name in figures]
    parts.append(
        comparison_section(
            "Multi-way vs En-X",
            "A = the multi-way run, B = an En-X run with the same student, objective and "
            "training settings but for the data and its matching. Relative gain = (A − B) / B. "
            "The paper (arXiv 2602.21543) reports +21.3% bitext mining, +5.3% STS and +28.4% "
            "classification for its XLM-R and mBERT students and only a qualitative "
            f"bitext-mining gain for mE5, under its protocol ({PROTOCOL_TEXT}); shown only "
            "beside a comparison that follows it, for those students.",
            pairs,
            models,
            not_compared,
        )
    )
    parts.append(
        comparison_section(
            "Trained runs vs base", "A = a trained run, B = its base student.", trained, models
        )
    )
    parts.append(training)
    parts.append("## Figures\n\n" + "\n\n".join(figure_lines) if figure_lines else "")
    for kind in runs["task_type"].unique():
        tasks = sorted(scores.loc[scores["task_type"] == kind, "task"].unique())
        extra = macro_runs if kind == "Classification" and not macro_runs.empty else None
        parts.append(type_section(kind, runs, tasks, extra, shared_languages(scores)))
        if kind == "Classification":
            parts.append(chance_section(chance))
    if experiment:
        parts.append(
            coverage_section(scores, [*experiment["languages"], *experiment["unseen_languages"]])
        )
    parts.append("## Per language")
    parts.append(language_difference_section(pd.concat([pairs, trained], ignore_index=True)))
    parts += [language_section(scores, task) for task in scores["task"].unique()]
    parts.append(other_splits_section(scores))
    parts.append(models_section(models))
    return "\n\n".join(part for part in parts if part) + "\n"
