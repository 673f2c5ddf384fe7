"""The report stage: mteb result JSONs -> scores.parquet, summary.md and PNG plots."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pyarrow as pa

from mwalign.io import atomic_path, write_table
from mwalign.schemas import SCORES

from .html import markdown_to_html
from .plots import gain_plot, language_plot
from .scores import collect_scores, describe_model
from .stats import model_averages, run_averages
from .summary import render_summary

log = logging.getLogger(__name__)

__all__ = ["build_report", "collect_scores", "describe_model", "render_summary"]


def build_report(
    *,
    result_paths: list,
    model_meta: dict,
    out_scores: str | os.PathLike,
    out_summary: str | os.PathLike,
    plot_dir: str | os.PathLike | None = None,
    out_html: str | os.PathLike | None = None,
) -> list[Path]:
    """Gather ``results/eval/{model}/{task}.json`` files into the report.

    ``model_meta`` maps every model name to a dict (run, student, data, objective,
    seed, languages) or to its folder (whose ``mwalign_run.json`` says the same).
    Writes the scores table (mwalign.schemas.SCORES), summary.md and, when
    ``plot_dir`` is given, PNG plots there (linked from summary.md); with ``out_html``
    also the summary as one HTML page with the plots embedded (for ``snakemake
    --report``). Returns the plots.
    """
    scores, models = collect_scores(result_paths, model_meta)
    if scores.empty:
        raise ValueError(f"no scores in {len(result_paths)} result files; nothing to report")
    write_table(pa.Table.from_pandas(scores, preserve_index=False), out_scores, SCORES)
    figures = _plots(scores, Path(plot_dir)) if plot_dir is not None else []
    summary_dir = Path(out_summary).parent
    names = [os.path.relpath(path, summary_dir) for path in figures]
    text = render_summary(scores, models, names)
    with atomic_path(out_summary) as tmp:
        tmp.write_text(text)
    if out_html is not None:
        with atomic_path(out_html) as tmp:
            tmp.write_text(markdown_to_html(text, summary_dir))
    log.info("report: %d scores of %d models, %d plots", len(scores), len(models), len(figures))
    return figures


def _plots(scores, plot_dir: Path) -> list[Path]:
    figures = []
    for task in scores["task"].unique():
        for student in scores.loc[scores["task"] == task, "student"].unique():
            path = plot_dir / f"{task}-{student}.png"
            language_plot(scores, task, student, path)
            figures.append(path)
    gains = plot_dir / "gains.png"
    if gain_plot(run_averages(model_averages(scores)), gains):
        figures.append(gains)
    return figures
