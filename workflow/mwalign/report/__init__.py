"""The report stage: mteb result JSONs (and per-item outputs) -> scores, summary, figures."""

from __future__ import annotations

import logging
import os
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from mwalign.evaluate.items import items_path
from mwalign.files import atomic_path, read_table, write_table
from mwalign.paths import DEV_CURVE_FILE, LOSS_CURVE_FILE
from mwalign.tables import ITEMS, SCORES

from .budget import sides_text
from .cards import write_cards
from .compare import Settings, compare_runs
from .html import markdown_to_html
from .pairing import MULTIWAY_VS_ENX, ComparisonPlan, plan_comparisons
from .plots import difference_plot, gain_plot, loss_plot, score_heatmap
from .scores import BASE, collect_scores, describe_model
from .stats import model_averages
from .summary import MACRO_F1, render_summary
from .training import training_section

log = logging.getLogger(__name__)

__all__ = ["build_report", "collect_scores", "describe_model", "render_summary"]


def read_items(result_paths: list) -> dict[tuple[str, str], pd.DataFrame]:
    """(model, task) -> per-item outputs, for every result file that has them beside it."""
    items = {}
    for path in map(Path, result_paths):
        side = items_path(path)
        if side.exists():
            items[(path.parent.name, path.stem)] = read_table(side, ITEMS).to_pandas()
    return items


def _test_labels(scores: pd.DataFrame, items: dict) -> dict[str, pd.DataFrame]:
    """task -> the gold labels of a classification task's evaluation split (any model's items)."""
    labels = {}
    for task in scores.loc[scores["task_type"] == "Classification", "task"].unique():
        frame = next((f for (m, t), f in items.items() if t == task), None)
        if frame is None:
            continue
        split = scores.loc[(scores["task"] == task) & scores["evaluation"], "split"].iloc[0]
        labels[task] = frame[(frame["split"] == split) & (frame["experiment"] == 0)]
    return labels


def _majority(gold: pd.Series) -> float:
    return float(gold.value_counts(normalize=True).max())


def subset_chance(scores: pd.DataFrame, items: dict) -> pd.DataFrame:
    """Chance level of each classification (task, subset): its majority-class rate.

    Columns task, subset, chance; other task types (and tasks without per-item outputs)
    have no row, which :func:`.compare.compare_runs` counts as 0.
    """
    frames = [
        part.groupby("subset")["gold"].agg(_majority).rename("chance").reset_index()
        .assign(task=task)
        for task, part in _test_labels(scores, items).items()
    ]  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=["task", "subset", "chance"])
    return pd.concat(frames, ignore_index=True)[["task", "subset", "chance"]]


def chance_levels(scores: pd.DataFrame, items: dict) -> pd.DataFrame:
    """Majority-class and uniform-guess rates of each classification task's test items."""
    rows = []
    for task, part in _test_labels(scores, items).items():
        rates = part.groupby("subset")["gold"].agg(_majority)
        classes = part.groupby("subset")["gold"].nunique()
        rows.append(
            {
                "task": task,
                "subsets": len(rates),
                "items": int(part.groupby("subset").size().max()),
                "classes": int(classes.max()),
                "majority": float(rates.mean()),
                "uniform": float((1 / classes).mean()),
            }
        )
    return pd.DataFrame(rows)


def _comparisons(scores, models, items, settings, plan: ComparisonPlan):
    """(multi-way vs En-X, trained vs base) tables of the comparisons of ``plan``.

    A multi-way vs En-X table also carries its matching, what each side saw
    (``sides``) and whether it is the paper's protocol (``paper_protocol``)."""
    chance = subset_chance(scores, items)
    compare = partial(compare_runs, scores=scores, items=items, settings=settings, chance=chance)
    pairs, trained = [], []
    for pairing in plan.compared:
        table = compare(run_a=pairing.run_a, run_b=pairing.run_b)
        if pairing.kind == MULTIWAY_VS_ENX:
            sides = sides_text(pairing.run_a, pairing.run_b, pairing.matching, models)
            pairs.append(table.assign(sides=sides, paper_protocol=pairing.paper_protocol))
        else:
            trained.append(table)
    empty = pd.DataFrame()
    return (
        pd.concat(pairs, ignore_index=True) if pairs else empty,
        pd.concat(trained, ignore_index=True) if trained else empty,
    )


def _with_run_params(models: dict[str, dict], run_params: dict[str, dict] | None) -> None:
    """Give each model of a run in ``run_params`` (run -> resolved params, the planner's)
    those settings (in place); others keep what their folder recorded."""
    run_params = run_params or {}
    for info in models.values():
        if info["run"] in run_params:
            info["settings"] = run_params[info["run"]]


def _plots(scores, models, pairs, trained, model_dirs, plot_dir: Path) -> list[Path]:
    figures = []
    both = pd.concat([pairs, trained], ignore_index=True)
    student_of = {info["run"]: info["student"] for info in models.values()}
    for task in scores["task"].unique():
        if not both.empty:
            for student in dict.fromkeys(both["run_a"].map(student_of)):
                part = both[both["run_a"].map(student_of) == student]
                path = plot_dir / f"{task}-{student}-differences.png"
                figures.append(difference_plot(part, task, path))
        figures.append(score_heatmap(scores, task, plot_dir / f"{task}-scores.png"))
    figures.append(gain_plot(pairs, models, plot_dir / "gains.png"))
    curves = {
        model: Path(folder) / LOSS_CURVE_FILE
        for model, folder in model_dirs.items()
        if models[model]["data"] != BASE
    }
    dev_curves = {model: path.with_name(DEV_CURVE_FILE) for model, path in curves.items()}
    runs = {model: models[model]["run"] for model in curves}
    figures.append(
        loss_plot(curves, plot_dir / "loss-curves.png", dev_curves=dev_curves, runs=runs)
    )
    return [figure for figure in figures if figure is not None]


def build_report(
    *,
    result_paths: list,
    model_meta: dict,
    out_scores: str | os.PathLike,
    out_summary: str | os.PathLike,
    plot_dir: str | os.PathLike | None = None,
    out_html: str | os.PathLike | None = None,
    out_cards: str | os.PathLike | None = None,
    settings: dict[str, Any],
    experiment: dict[str, Any] | None = None,
    seed: int = 0,
    run_params: dict[str, dict] | None = None,
) -> list[Path]:
    """Gather ``results/eval/{model}/{task}.json`` files (and their items) into the report.

    ``model_meta`` maps every model name to a dict (run, student, data, objective,
    seed, languages) or to its folder (whose ``mwalign_run.json`` says the same, and
    whose ``loss_curve.csv`` is plotted). Writes the scores table (SCORES), summary.md
    and, with ``plot_dir``, the figures there (PNG and SVG, linked from summary.md);
    with ``out_html`` also the summary as one HTML page with the figures embedded; with
    ``out_cards`` a card per trained model with its headline scores (:mod:`.cards`).
    ``settings`` is config.report (bootstrap resamples, confidence level);
    ``experiment`` what the page's header shows (config hash, languages, students,
    versions, machine). ``run_params``: each run's resolved params from the planner
    (:func:`.pairing.resolved_runs`), which decide what is compared
    (:func:`.pairing.plan_comparisons`); without it, the params each model's folder
    records. Returns the PNG figures.
    """
    scores, models = collect_scores(result_paths, model_meta)
    if scores.empty:
        raise ValueError(f"no scores in {len(result_paths)} result files; nothing to report")
    _with_run_params(models, run_params)
    plan = plan_comparisons(models)
    for line in plan.lines():
        log.info("report plan: %s", line)
    write_table(pa.Table.from_pandas(scores, preserve_index=False), out_scores, SCORES)
    items = read_items(result_paths)
    options = Settings(settings["bootstrap_resamples"], settings["confidence"], seed)
    pairs, trained = _comparisons(scores, models, items, options, plan)
    model_dirs = {m: v for m, v in model_meta.items() if not isinstance(v, dict)}
    figures = (
        _plots(scores, models, pairs, trained, model_dirs, Path(plot_dir))
        if plot_dir is not None
        else []
    )
    summary_dir = Path(out_summary).parent
    names = [os.path.relpath(path, summary_dir) for path in figures]
    averages = model_averages(scores)
    text = render_summary(
        scores,
        models,
        names,
        averages=averages,
        macro=model_averages(scores[scores["task_type"] == "Classification"], MACRO_F1),
        pairs=pairs,
        trained=trained,
        not_compared=[f"{n.run_a} vs {n.run_b}: {n.reason}" for n in plan.not_compared],
        chance=chance_levels(scores, items),
        experiment=experiment,
        training=training_section(model_dirs),
    )
    with atomic_path(out_summary) as tmp:
        tmp.write_text(text)
    if out_html is not None:
        with atomic_path(out_html) as tmp:
            tmp.write_text(markdown_to_html(text, summary_dir))
    if out_cards is not None:
        write_cards(out_dir=out_cards, models=models, model_dirs=model_dirs, averages=averages)
    log.info("report: %d scores of %d models, %d figures", len(scores), len(models), len(figures))
    return figures
