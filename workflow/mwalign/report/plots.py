"""The report's figures (matplotlib), each written as PNG and SVG, sized for a page.

- :func:`difference_plot`: per language of a task, the difference of two runs (multi-way
  minus En-X, each trained run minus its base) as points with confidence intervals,
  seen and unseen languages grouped and labelled.
- :func:`score_heatmap`: scores of every model on every language of a task, values printed.
- :func:`loss_plot`: the training loss of every run on one figure, with the dev loss and
  the dev bitext accuracy beside it for runs that evaluated on dev.
- :func:`gain_plot`: relative gain of multi-way over En-X per task type with intervals,
  beside the paper's value where the paper reports one for that student (gains
  withheld over a baseline near chance are left out).

Intervals are drawn from their low to their high end as computed (:func:`interval_points`),
never as symmetric or absolute error lengths, so a point outside its interval shows as such.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mwalign.files import atomic_path  # noqa: E402

from .compare import NON_ENGLISH_PAIRS, language_key  # noqa: E402
from .stats import PAPER_GAINS, SUBSETS, main_scores, paper_gain  # noqa: E402

PAGE_WIDTH = 10.0  # inches; at DPI this is the width of a page-wide figure in pixels / DPI
DPI = 150
FONT_SIZE = 11
plt.rcParams.update({"font.size": FONT_SIZE, "svg.hashsalt": "mwalign", "svg.fonttype": "none"})


def save_figure(figure: plt.Figure, path: Path) -> Path:
    """Write ``path`` (.png) and the same figure as .svg beside it; return the PNG path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".png", ".svg"):
        target = path.with_suffix(suffix)
        with atomic_path(target) as tmp:
            metadata = {"Date": None} if suffix == ".svg" else {"Software": None}
            figure.savefig(tmp, format=suffix[1:], dpi=DPI, metadata=metadata)
    plt.close(figure)
    return path


def interval_points(axes, x, y, low, high, label: str | None = None, capsize: float = 6) -> None:
    """Points ``y`` at ``x`` with vertical bars from ``low`` to ``high``, drawn as they are
    (matplotlib's errorbar takes lengths around the point and refuses negative ones)."""
    x, y, low, high = (np.asarray(v, dtype=float) for v in (x, y, low, high))
    (line,) = axes.plot(x, y, "o", markersize=5, label=label)
    colour = line.get_color()
    axes.vlines(x, low, high, colors=colour)
    axes.plot(np.concatenate([x, x]), np.concatenate([low, high]), "_", color=colour,
              markersize=capsize)  # fmt: skip


def _language_order(codes: list[str], seen: dict[str, str]) -> list[str]:
    return sorted(codes, key=lambda c: (seen.get(c) != "seen", c == NON_ENGLISH_PAIRS, c))


def _label(row: pd.Series) -> str:
    return f"{row['run_a']} − {row['run_b']}"


def difference_plot(table: pd.DataFrame, task: str, path: Path) -> Path | None:
    """Points with CIs: per language of ``task``, A − B in points for every comparison."""
    part = table[(table["level"] == "language") & (table["task"] == task)]
    if part.empty:
        return None
    seen = part.groupby("language")["group"].first().to_dict()
    order = _language_order(list(seen), seen)
    comparisons = list(dict.fromkeys(part.apply(_label, axis=1)))
    figure, axes = plt.subplots(figsize=(PAGE_WIDTH, 4.8), layout="constrained")
    width = 0.7 / max(len(comparisons), 1)
    for i, name in enumerate(comparisons):
        rows = part[part.apply(_label, axis=1) == name].set_index("language").reindex(order)
        x = np.arange(len(order)) + (i - (len(comparisons) - 1) / 2) * width
        low, high = 100 * rows["low"].to_numpy(), 100 * rows["high"].to_numpy()
        interval_points(axes, x, 100 * rows["diff"].to_numpy(), low, high, label=name)
    axes.axhline(0, color="black", linewidth=0.8)
    n_seen = sum(seen.get(c) == "seen" for c in order)
    if 0 < n_seen < len(order):
        axes.axvline(n_seen - 0.5, color="grey", linestyle="--", linewidth=0.8)
    for start, stop, name in ((0, n_seen, "seen"), (n_seen, len(order), "unseen")):
        if stop > start:
            axes.text(
                (start + stop - 1) / 2,
                1.01,
                name,
                transform=axes.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontweight="bold",
            )
    axes.set_xticks(np.arange(len(order)), order)
    axes.set_xlim(-0.6, len(order) - 0.4)
    axes.set_ylabel("difference (points × 100)")
    method = part["method"].iloc[0]
    interval = "over seeds" if method == "seeds" else "paired bootstrap over sentences"
    level = f"{100 * part['confidence'].iloc[0]:g}%"
    axes.set_title(f"{task}: differences per language, {level} CI {interval}", pad=22)
    axes.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(len(comparisons), 4), frameon=False
    )
    axes.grid(axis="y", alpha=0.3)
    return save_figure(figure, path)


def score_heatmap(scores: pd.DataFrame, task: str, path: Path) -> Path | None:
    """Models × languages of ``task`` (main score × 100, mean over seeds), values printed."""
    main = main_scores(scores)
    main = main[main["task"] == task].copy()
    if main.empty:
        return None
    main["code"] = main["language"].map(language_key)
    table = main.groupby(["run", "code"], sort=False)["score"].mean().unstack("code")
    seen = main.groupby("code")["seen"].agg(lambda s: "seen" if (s == "seen").any() else "unseen")
    order = _language_order(list(table.columns), seen.to_dict())
    table = table.reindex(index=list(dict.fromkeys(main["run"])), columns=order)
    values = 100 * table.to_numpy()
    height = 1.6 + 0.5 * len(table.index)
    figure, axes = plt.subplots(figsize=(PAGE_WIDTH, height), layout="constrained")
    image = axes.imshow(values, cmap="viridis", aspect="auto")
    middle = np.nanmean(values)
    for (i, j), value in np.ndenumerate(values):
        if math.isfinite(value):
            colour = "black" if value > middle else "white"
            axes.text(j, i, f"{value:.1f}", ha="center", va="center", color=colour, fontsize=10)
    labels = [f"{c}\n({'seen' if seen.get(c) == 'seen' else 'unseen'})" for c in order]
    axes.set_xticks(np.arange(len(order)), labels, fontsize=9)
    axes.set_yticks(np.arange(len(table.index)), table.index)
    axes.set_title(f"{task}: main score × 100 per language")
    figure.colorbar(image, ax=axes, fraction=0.03, pad=0.01)
    return save_figure(figure, path)


def read_loss_curve(path: Path) -> pd.DataFrame:
    with open(path, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("loss") not in (None, "")]
    return pd.DataFrame(
        {"step": [int(float(r["step"])) for r in rows], "loss": [float(r["loss"]) for r in rows]}
    )


def read_dev_curve(path: Path) -> pd.DataFrame:
    """A run's dev_curve.csv: step, dev_loss, dev_accuracy (NaN where not measured)."""
    frame = pd.read_csv(path)
    return frame[["step", "dev_loss", "dev_accuracy"]].astype(float)


# Legends with more entries than this go below the axes, in columns, so they hide no curve.
LEGEND_INSIDE_MAX = 8


def run_colors(runs: list[str]) -> dict[str, tuple]:
    """One distinct colour per run: tab10 up to 10 runs, tab20 up to 20, then evenly spaced
    samples of a continuous map, so no two runs of a large grid share a colour."""
    if len(runs) <= 10:
        palette = matplotlib.colormaps["tab10"].colors
    elif len(runs) <= 20:
        palette = matplotlib.colormaps["tab20"].colors
    else:
        palette = [matplotlib.colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, len(runs))]
    return {run: tuple(palette[i]) for i, run in enumerate(runs)}


def _legend(axes, entries: int) -> None:
    """The axes' legend inside when short, else below the axes in columns."""
    if entries <= LEGEND_INSIDE_MAX:
        axes.legend(frameon=False)
    else:
        axes.legend(frameon=False, fontsize="small", ncols=3, loc="upper center",
                    bbox_to_anchor=(0.5, -0.15))  # fmt: skip


def loss_figure(
    curves: dict[str, Path],
    dev_curves: dict[str, Path] | None = None,
    runs: dict[str, str] | None = None,
) -> plt.Figure | None:
    """Training loss against step of every trained model (``curves``: model ->
    loss_curve.csv); with ``dev_curves`` (model -> dev_curve.csv, where a run evaluated on
    dev) the dev loss is drawn dashed over each model's training loss and the dev bitext
    accuracy beside it. ``runs`` (model -> run) gives the seeds of a run one colour and one
    legend entry; without it every model is its own run. None when no curve has a row."""
    frames = {
        name: read_loss_curve(csv_path) for name, csv_path in curves.items() if csv_path.exists()
    }
    frames = {name: frame for name, frame in frames.items() if not frame.empty}
    if not frames:
        return None
    dev = {
        name: read_dev_curve(csv_path)
        for name, csv_path in (dev_curves or {}).items()
        if name in frames and csv_path.exists()
    }
    dev = {name: frame for name, frame in dev.items() if not frame.empty}
    run_of = {name: (runs or {}).get(name, name) for name in frames}
    colors = run_colors(list(dict.fromkeys(run_of.values())))
    height = 4.5 + 0.2 * math.ceil(len(colors) / 3) * (len(colors) > LEGEND_INSIDE_MAX)
    if dev:
        figure, (axes, dev_axes) = plt.subplots(
            1, 2, figsize=(PAGE_WIDTH, height), layout="constrained"
        )
    else:
        figure, axes = plt.subplots(figsize=(PAGE_WIDTH * 0.8, height), layout="constrained")
    labelled, dev_labelled = set(), set()
    for name, frame in frames.items():
        run = run_of[name]
        color = colors[run]
        axes.plot(
            frame["step"], frame["loss"], marker="." if len(frame) < 60 else None,
            color=color, label=None if run in labelled else run,
        )  # fmt: skip
        labelled.add(run)
        if name in dev:
            axes.plot(dev[name]["step"], dev[name]["dev_loss"], "--", color=color, marker="x")
            dev_axes.plot(
                dev[name]["step"], 100 * dev[name]["dev_accuracy"], color=color, marker="x",
                label=None if run in dev_labelled else run,
            )  # fmt: skip
            dev_labelled.add(run)
    axes.set_xlabel("training step")
    axes.set_ylabel("loss (each run's own objective)")
    axes.set_title("Training loss" + (" (dashed: dev loss)" if dev else " of every run"))
    axes.grid(alpha=0.3)
    _legend(axes, len(labelled))
    if dev:
        dev_axes.set_xlabel("training step")
        dev_axes.set_ylabel("dev bitext accuracy × 100")
        dev_axes.set_title("Dev bitext accuracy (dev split)")
        dev_axes.grid(alpha=0.3)
        _legend(dev_axes, len(dev_labelled))
    return figure


def loss_plot(
    curves: dict[str, Path],
    path: Path,
    dev_curves: dict[str, Path] | None = None,
    runs: dict[str, str] | None = None,
) -> Path | None:
    """:func:`loss_figure` saved to ``path`` (PNG and SVG); None when it draws nothing."""
    figure = loss_figure(curves, dev_curves=dev_curves, runs=runs)
    return None if figure is None else save_figure(figure, path)


def gain_plot(pairs: pd.DataFrame, models: dict[str, dict], path: Path) -> Path | None:
    """Relative gain of multi-way over En-X per task type and subset group, 95% intervals."""
    part = pairs[pairs["level"] == "aggregate"] if not pairs.empty else pairs
    if not part.empty and "gain_withheld" in part:
        part = part[~part["gain_withheld"].astype(bool)]
    if part.empty:
        return None
    model_ids = {info["run"]: info["model_id"] for info in models.values()}
    labels = list(
        dict.fromkeys(f"{r['task_type']}\n{r['run_a']} vs {r['run_b']}" for _, r in part.iterrows())
    )
    size = (min(max(PAGE_WIDTH * 0.8, 1.5 * len(labels)), 2 * PAGE_WIDTH), 5.0)
    figure, axes = plt.subplots(figsize=size, layout="constrained")
    width = 0.25
    for k, group in enumerate(SUBSETS):
        rows = part[part["group"] == group]
        keyed = {f"{r['task_type']}\n{r['run_a']} vs {r['run_b']}": r for _, r in rows.iterrows()}
        drawn = [
            (i + (k - 1) * width, keyed[label]) for i, label in enumerate(labels) if label in keyed
        ]
        if drawn:
            x, rows = zip(*drawn, strict=True)
            values = {key: [r[key] for r in rows] for key in ("gain", "gain_low", "gain_high")}
            interval_points(axes, x, values["gain"], values["gain_low"], values["gain_high"],
                            label=group, capsize=8)  # fmt: skip
    shown = False
    for i, label in enumerate(labels):
        kind, comparison = label.split("\n")
        run_a = comparison.split(" vs ")[0]
        if paper_gain(kind, model_ids.get(run_a, "")).startswith("+"):
            axes.plot(
                [i - 0.4, i + 0.4],
                [PAPER_GAINS[kind]] * 2,
                color="black",
                linewidth=2,
                label=None if shown else "paper, all languages (XLM-R, mBERT)",
            )
            shown = True
    axes.axhline(0, color="grey", linewidth=0.8)
    axes.set_xticks(np.arange(len(labels)), labels)
    axes.set_ylabel("relative gain of multi-way over En-X (%)")
    axes.set_title(
        f"Multi-way vs En-X per task type, {100 * part['confidence'].iloc[0]:g}% intervals"
    )
    axes.grid(axis="y", alpha=0.3)
    axes.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4)
    return save_figure(figure, path)
