"""What a run records while it trains: the loss curve (CSV, and TensorBoard when the
``tensorboard`` package is installed) and the error raised on a non-finite loss."""

from __future__ import annotations

import csv
import importlib.util
import io as text_io
import logging
from pathlib import Path

from transformers import TrainerCallback

from mwalign import io

log = logging.getLogger(__name__)

LOSS_CURVE_COLUMNS = ("step", "epoch", "loss", "learning_rate", "grad_norm")


class NonFiniteLossError(RuntimeError):
    """A training step produced a NaN or infinite loss."""


def loss_curve_rows(log_history: list[dict]) -> list[dict]:
    """One row per logged training step from the Trainer's log history (kept across resumes)."""
    rows = []
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            rows.append({column: entry.get(column, "") for column in LOSS_CURVE_COLUMNS})
    return rows


def write_loss_curve(rows: list[dict], path: Path) -> None:
    """Write the loss curve as CSV, atomically."""
    buffer = text_io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOSS_CURVE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with io.atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())


def tensorboard_callbacks(log_dir: Path | None) -> list[TrainerCallback]:
    """A TensorBoard writer under ``log_dir`` when ``tensorboard`` is installed, else none."""
    if log_dir is None:
        return []
    if importlib.util.find_spec("tensorboard") is None:
        log.info("tensorboard is not installed: the loss curve is written as CSV only")
        return []
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    Path(log_dir).mkdir(parents=True, exist_ok=True)
    return [TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir)))]
