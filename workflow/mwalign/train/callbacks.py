"""What a run records while it trains: the loss curve (CSV, and TensorBoard when the
``tensorboard`` package is installed), the loss module's own weights in checkpoints, and
the error raised on a non-finite loss."""

from __future__ import annotations

import csv
import importlib.util
import io as text_io
import logging
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import TrainerCallback

from mwalign import files

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
    with files.atomic_path(path) as tmp:
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


LOSS_STATE_FILE = "loss_state.safetensors"


def loss_own_state(loss: nn.Module) -> dict[str, torch.Tensor]:
    """The loss's own weights (e.g. a distillation projection), without the student's."""
    return {k: v for k, v in loss.state_dict().items() if not k.startswith("model.")}


class LossStateCallback(TrainerCallback):
    """Saves the loss's own weights into every checkpoint, so a resumed run gets them back
    (the Trainer checkpoints the student and the optimiser, not the loss module)."""

    def __init__(self, loss: nn.Module) -> None:
        self.loss = loss

    def on_save(self, args, state, control, **kwargs):
        own = loss_own_state(self.loss)
        if own and state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in own.items()}, folder / LOSS_STATE_FILE
            )
        return control


def load_loss_state(loss: nn.Module, checkpoint: str | None) -> None:
    """Restore the loss's own weights from a checkpoint written with :class:`LossStateCallback`."""
    path = Path(checkpoint) / LOSS_STATE_FILE if checkpoint else None
    if path is not None and path.exists():
        missing = loss.load_state_dict(load_file(str(path)), strict=False)
        if missing.unexpected_keys:
            raise ValueError(f"{path}: unexpected loss weights {missing.unexpected_keys}")
