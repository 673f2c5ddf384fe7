"""Model cards with the report's headline scores: ``results/report/cards/{model}.md``.

A trained model's folder carries a card (``README.md``: sentence-transformers' card plus
:mod:`mwalign.train.card`'s section on the run) written when the model is saved, before
any score exists. Writing scores into the folder afterwards would change the input of
every evaluation job of that model and make them stale, so the report writes, for each
trained model, that card followed by its headline scores: per task type, the mean over
all, seen and unseen languages, beside its base student's. Copy the card over the
folder's ``README.md`` to publish the model with its scores.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from mwalign.files import atomic_path

from .scores import BASE
from .stats import SUBSETS
from .summary import METRIC_NAMES, TYPE_TITLES, fmt, markdown_table


def scores_section(model: str, base: str | None, averages: pd.DataFrame) -> str:
    """Markdown: the model's (and its base student's) mean score per task type and group."""
    rows = []
    for kind in averages["task_type"].unique():
        part = averages[averages["task_type"] == kind]
        for name in [model, base] if base else [model]:
            cells = part[part["model"] == name].set_index("group")["score"]
            if cells.empty:
                continue
            title = TYPE_TITLES.get(kind, kind)
            metric = METRIC_NAMES.get(kind, "main score")
            row = [title, metric, f"`{name}`"] + [fmt(cells.get(g, float("nan"))) for g in SUBSETS]
            rows.append(row)
    note = (
        "mteb main scores × 100 on each task's evaluation split, averaged over each task's "
        "languages, then over tasks; seen = English and the training languages. From the "
        "report of the experiment (`results/report/summary.md`), which has the intervals."
    )
    table = markdown_table(["task type", "metric", "model", *SUBSETS], rows)
    return f"\n## Scores (mwalign report)\n\n{note}\n\n{table}\n"


def write_cards(
    *,
    out_dir: str | os.PathLike,
    models: dict[str, dict],
    model_dirs: dict[str, str | os.PathLike],
    averages: pd.DataFrame,
) -> list[Path]:
    """One card per trained model in ``out_dir``: its folder's card (when ``model_dirs``
    has the folder) and :func:`scores_section`. Returns the cards written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for model, info in models.items():
        if info["data"] == BASE:
            continue
        base = f"{BASE}-{info['student']}"
        folder_card = Path(model_dirs[model]) / "README.md" if model in model_dirs else None
        card = (
            folder_card.read_text(encoding="utf-8") if folder_card and folder_card.is_file() else ""
        )
        text = card.rstrip("\n") + "\n" + scores_section(model, base, averages)
        with atomic_path(out_dir / f"{model}.md") as tmp:
            tmp.write_text(text, encoding="utf-8")
        written.append(out_dir / f"{model}.md")
    return written
