"""The report's section on training length and sweeps: where each trained model's run
stopped and why, which checkpoint it is, and for a swept run the point chosen on dev.

Read from each model folder's ``mwalign_run.json`` (``result.stopped``, written by
:func:`mwalign.train.dev.stop_record`) and, for a swept run, ``mwalign_sweep.json``
(:func:`mwalign.train.sweep.select_point`). Only the chosen points are evaluated, so
every comparison in the report is between chosen points.
"""

from __future__ import annotations

import json
from pathlib import Path

from mwalign.paths import RUN_INFO_FILE, SWEEP_INFO_FILE

from .summary import markdown_table


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _settings(settings: dict) -> str:
    return ", ".join(f"{key} {value}" for key, value in settings.items())


def _stop_cells(stopped: dict) -> list[str]:
    best = (
        f"step {stopped['best_step']}: {stopped['dev_metric']} {stopped['best_metric']:.4f}"
        if stopped.get("best_step") is not None
        else "–"
    )
    return [str(stopped["step"]), stopped["reason"], best, stopped["model"]]


def training_section(model_dirs: dict[str, str | Path]) -> str:
    """Markdown: one row per trained model that recorded where it stopped, then one per
    swept run with every point's dev metric; empty when there is neither."""
    stop_rows, sweep_parts = [], []
    for model, folder in model_dirs.items():
        record = _read(Path(folder) / RUN_INFO_FILE)
        stopped = (record or {}).get("result", {}).get("stopped")
        if stopped:
            stop_rows.append([model, *_stop_cells(stopped)])
        sweep = _read(Path(folder) / SWEEP_INFO_FILE)
        if sweep:
            rows = [
                [
                    point["point"] + (" (chosen)" if point["point"] == sweep["chosen"] else ""),
                    _settings(point["settings"]),
                    ", ".join(f"{value:.4f}" for value in point["dev"].values()),
                    f"{point['mean']:.4f}",
                ]
                for point in sweep["points"]
            ]
            better = "higher" if sweep["greater_is_better"] else "lower"
            sweep_parts.append(
                f"**{model}**: chosen on dev: `{sweep['chosen']}` "
                f"({_settings(sweep['settings'])}); {sweep['dev_metric']}, {better} is better, "
                "best over each point's evaluations, mean over seeds.\n\n"
                + markdown_table(["point", "settings", "dev per seed", "dev mean"], rows)
            )
    if not stop_rows and not sweep_parts:
        return ""
    parts = ["## Training length and sweeps"]
    if stop_rows:
        parts.append(
            "Where each run stopped and why (steps, epochs, or patience: early stopping on the "
            "dataset's dev split), and the checkpoint its model is (best on dev, or last).\n\n"
            + markdown_table(["model", "stopped at step", "why", "best on dev", "model"], stop_rows)
        )
    if sweep_parts:
        parts.append(
            "Sweeps: each point was trained as its own run; the point was chosen on the "
            "dataset's dev split only, and only the chosen point's model was evaluated, so "
            "every score and comparison above is of chosen points."
        )
        parts += sweep_parts
    return "\n\n".join(parts)
