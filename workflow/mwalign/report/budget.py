"""What each side of a comparison saw in training: planned, and counted where recorded.

Planned: :func:`mwalign.train.params.derived_budget` of the run's resolved params
(steps, rows per step, pairs per step, pairs in all). Counted: the ``seen`` record of
each trained model's ``mwalign_run.json`` (distinct sentences, pairs, steps), where the
train stage wrote one; a run's seeds that counted differently show the range.
"""

from __future__ import annotations

from typing import Any

from mwalign.train.params import derived_budget

# What each matching keeps equal between the two sides (an En-X run's declaration).
MATCHINGS = {
    "ids": "the same sentence ids per step",
    "sentences": "as many sentences encoded per step",
    "pairs": "as many training pairs in all",
}
COUNTED = (("distinct_sentences", "distinct sentences"), ("pairs", "pairs"), ("steps", "steps"))


def planned_text(params: dict[str, Any]) -> str:
    """``{steps} steps x {rows} rows ({pairs} pairs per step, {budget} pairs)``, and the
    train rows read where a run reads a subset; for a run trained by epochs, ``{epochs}
    epochs x {rows} rows ({pairs} pairs per step, {pairs} pairs per epoch)`` (``up to``
    with early stopping), as its steps follow from the rows it reads."""
    budget = derived_budget(params)
    rows, pairs_per_step = budget["train_rows"], budget["pairs_per_step"]
    if budget["steps"] is None:
        hyper = params["train"]
        length = f"{'up to ' if hyper.get('patience') else ''}{hyper['epochs']:,} epochs"
        per_row = budget["pairs_per_row"]
        per_epoch = (
            f"{rows * per_row:,} pairs per epoch from {rows:,} train rows"
            if rows
            else f"{per_row:,} pair{'s' * (per_row > 1)} per train row per epoch"
        )
        return (
            f"{length} × {budget['batch_rows']:,} rows "
            f"({pairs_per_step:,} pairs per step, {per_epoch})"
        )
    subset = f", from {rows:,} train rows" if rows else ""
    return (
        f"{budget['steps']:,} steps × {budget['batch_rows']:,} rows "
        f"({pairs_per_step:,} pairs per step, {budget['pair_budget']:,} pairs{subset})"
    )


def counted_text(seen: list[dict[str, Any]]) -> str:
    """The counts of ``seen`` records (one per seed): a value, or ``low–high`` over seeds."""
    parts = []
    for key, name in COUNTED:
        values = [record[key] for record in seen if key in record]
        if not values:
            continue
        low, high = min(values), max(values)
        parts.append(f"{low:,} {name}" if low == high else f"{low:,}–{high:,} {name}")
    over = f" (over {len(seen)} seeds)" if len(seen) > 1 else ""
    return ", ".join(parts) + over


def side_text(run: str, models: dict[str, dict]) -> str:
    """What one run saw: planned from its settings, counted from its models' records."""
    infos = [info for info in models.values() if info["run"] == run]
    settings = infos[0]["settings"]
    text = f"{run}: planned {planned_text(settings)}" if settings else f"{run}: not planned"
    seen = [info["seen"] for info in infos if info.get("seen")]
    return text + (f"; counted {counted_text(seen)}" if seen else "; not counted (no record)")


def sides_text(run_a: str, run_b: str, matching: str, models: dict[str, dict]) -> str:
    """``matched on {matching}. A: ... B: ...`` for one multi-way vs En-X pair."""
    how = f" ({MATCHINGS[matching]})" if matching in MATCHINGS else ""
    sides = ". ".join(side_text(run, models) for run in (run_a, run_b))
    return f"matched on {matching}{how}. {sides}"
