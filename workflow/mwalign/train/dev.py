"""Training length and the dev split: epochs, evaluations on dev, early stopping, the best
checkpoint, and what a run records about where it stopped and why.

With ``train.eval_every`` > 0 the Trainer evaluates every ``eval_every`` steps (or, with
``epoch``, at the end of every epoch) on the
rows of the dataset's ``dev`` split (assemble draws it, ``dataset.dev_fraction``):

- the dev loss (``eval_loss``): the run's own objective on batches of dev rows, as many
  rows per batch as a training step takes (so with as many in-batch negatives), or all
  dev rows in one batch where the dev split has fewer;
- the dev bitext accuracy (``eval_dev_accuracy``, :class:`DevBitextEvaluator`): each
  non-English dev sentence retrieves its English among the dev rows by cosine, the
  accuracy per language, then the mean over languages.

``train.dev_metric`` picks which of the two selects the best checkpoint (transformers'
``load_best_model_at_end`` + ``metric_for_best_model``), stops early after ``patience``
evaluations without a better one (transformers' ``EarlyStoppingCallback``) and chooses a
sweep's point (:mod:`mwalign.train.sweep`). A checkpoint is written at every evaluation
so the best one is on disk; the model saved is the best checkpoint's. Only the dataset's
dev rows are read: the evaluation (test) data never reaches a train job.
"""

from __future__ import annotations

import csv
import io as text_io
import logging
from pathlib import Path
from typing import Any

import numpy as np
from sentence_transformers.base.evaluation import BaseEvaluator
from transformers import EarlyStoppingCallback, TrainerCallback, TrainerState

from mwalign import files
from mwalign.paths import SOURCE_LANGUAGE
from mwalign.train.data import build_dev_dataset, view_languages
from mwalign.train.params import batch_size
from mwalign.train.sweep import DEV_METRICS

log = logging.getLogger(__name__)

DEV_CURVE_COLUMNS = ("step", "epoch", "dev_loss", "dev_accuracy")


def dev_enabled(params: dict[str, Any]) -> bool:
    """Whether a job evaluates on dev (``train.eval_every``: ``epoch`` or > 0)."""
    every = params["train"]["eval_every"]
    return every == "epoch" or every > 0


def length_arguments(
    hyper: dict[str, Any], steps: int | None, steps_per_epoch: int
) -> dict[str, Any]:
    """The Trainer's length and warmup: ``steps`` (the job's derived steps,
    :func:`mwalign.train.params.derived_budget`), or ``epochs`` passes over the rows
    (``steps_per_epoch`` optimiser steps each); warmup is ``warmup_ratio`` of the whole."""
    if hyper["epochs"] is None:
        return {"max_steps": steps, "warmup_steps": round(hyper["warmup_ratio"] * steps)}
    total = hyper["epochs"] * steps_per_epoch
    return {
        "max_steps": -1,
        "num_train_epochs": hyper["epochs"],
        "warmup_steps": round(hyper["warmup_ratio"] * total),
    }


def dev_arguments(hyper: dict[str, Any], rows_per_step: int) -> dict[str, Any]:
    """The Trainer's evaluation, checkpoint and best-model arguments (none when off)."""
    every = hyper["eval_every"]
    if not every:
        return {}
    metric, greater = DEV_METRICS[hyper["dev_metric"]]
    # a checkpoint at every evaluation: the best one is then always on disk
    if every == "epoch":
        when = {"eval_strategy": "epoch", "save_strategy": "epoch"}
    else:
        when = {
            "eval_strategy": "steps",
            "eval_steps": every,
            "save_strategy": "steps",
            "save_steps": every,
        }
    return {
        **when,
        "load_best_model_at_end": True,
        "metric_for_best_model": metric,
        "greater_is_better": greater,
        "per_device_eval_batch_size": rows_per_step,
    }


def dev_callbacks(params: dict[str, Any]) -> list[TrainerCallback]:
    """transformers' EarlyStoppingCallback when ``train.patience`` is set."""
    patience = params["train"]["patience"]
    return [] if patience is None else [EarlyStoppingCallback(early_stopping_patience=patience)]


class DevBitextEvaluator(BaseEvaluator):
    """Dev bitext accuracy: each non-English sentence's nearest English sentence (cosine)
    among the dev rows is its own translation; the accuracy per language and its mean.

    ``english``: the English sentence of each dev row; ``targets``: language -> (row
    index, sentence) of that language's dev sentences (multi-way rows hold every language,
    En-X rows one). ``prompt``: the student's input prefix, as training adds it.
    """

    def __init__(
        self,
        english: list[str],
        targets: dict[str, list[tuple[int, str]]],
        *,
        prompt: str | None = None,
        batch_size: int = 32,
    ) -> None:
        super().__init__()
        self.english, self.targets = english, targets
        self.prompt, self.batch_size = prompt, batch_size
        self.primary_metric = "dev_accuracy"
        self.greater_is_better = True

    def _encode(self, model: Any, texts: list[str]) -> np.ndarray:
        return model.encode(
            texts,
            prompt=self.prompt,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ):
        english = self._encode(model, self.english)  # (rows, dim)
        metrics = {}
        for lang, items in self.targets.items():
            rows = np.array([row for row, _ in items])
            queries = self._encode(model, [text for _, text in items])  # (n_lang, dim)
            nearest = (queries @ english.T).argmax(axis=1)  # (n_lang,)
            metrics[f"dev_accuracy_{lang}"] = float((nearest == rows).mean())
        metrics["dev_accuracy"] = float(np.mean(list(metrics.values())))
        log.info("dev accuracy at step %s: %.4f", steps, metrics["dev_accuracy"])
        return metrics


def dev_evaluator(rows: dict[str, list], columns: list[str], prompt: str | None, batch_size: int):
    """The :class:`DevBitextEvaluator` of a job's dev rows (``read_train_rows`` columns)."""
    targets: dict[str, list[tuple[int, str]]] = {}
    for column in columns:
        if column == SOURCE_LANGUAGE:
            continue
        for row, text in enumerate(rows[column]):
            lang = column if column != "text" else rows["lang"][row]
            targets.setdefault(lang, []).append((row, text))
    targets = dict(sorted(targets.items()))
    return DevBitextEvaluator(rows[SOURCE_LANGUAGE], targets, prompt=prompt, batch_size=batch_size)


def dev_split(
    params: dict[str, Any], dataset_path: Path, teacher_path: Path | None
) -> tuple | None:
    """(Dataset, ids, evaluator) of the dev split when the job evaluates on dev, else None."""
    if not dev_enabled(params):
        return None
    dataset, rows = build_dev_dataset(params, dataset_path, teacher_path)
    columns = view_languages(params["data"], params["languages"])  # every language of a row
    prompt = params["student"]["prefix"] or None
    return dataset, rows["id"], dev_evaluator(rows, columns, prompt, batch_size(params))


def dev_curve_rows(log_history: list[dict]) -> list[dict]:
    """One row per evaluation on dev from the Trainer's log history."""
    rows = []
    for entry in log_history:
        if "eval_loss" in entry or "eval_dev_accuracy" in entry:
            rows.append(
                {
                    "step": entry.get("step", ""),
                    "epoch": entry.get("epoch", ""),
                    "dev_loss": entry.get("eval_loss", ""),
                    "dev_accuracy": entry.get("eval_dev_accuracy", ""),
                }
            )
    return rows


def write_dev_curve(rows: list[dict], path: Path) -> None:
    """Write the dev curve as CSV, atomically."""
    buffer = text_io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=DEV_CURVE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with files.atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())


def stop_record(params: dict[str, Any], state: TrainerState, callbacks: list) -> dict[str, Any]:
    """Where and why a run stopped, and which checkpoint its saved model is.

    ``reason``: ``patience`` (early stopping), ``epochs`` or ``steps`` (trained to the
    end); with dev evaluations also the metric, the best step and value, the number of
    evaluations, and ``model``: the checkpoint saved (``best`` or ``last``).
    """
    hyper = params["train"]
    stopper = next((c for c in callbacks if isinstance(c, EarlyStoppingCallback)), None)
    patience_hit = stopper is not None and (
        stopper.early_stopping_patience_counter >= stopper.early_stopping_patience
    )
    reason = "patience" if patience_hit else ("epochs" if hyper["epochs"] is not None else "steps")
    record: dict[str, Any] = {
        "reason": reason,
        "step": state.global_step,
        "epoch": state.epoch,
        "max_steps": state.max_steps,
        "patience": hyper["patience"],
    }
    if not dev_enabled(params):
        return {**record, "model": "last"}
    evaluations = dev_curve_rows(state.log_history)
    best = state.best_model_checkpoint
    record.update(
        {
            "dev_metric": DEV_METRICS[hyper["dev_metric"]][0],
            "eval_every": hyper["eval_every"],
            "evaluations": len(evaluations),
            "best_step": int(Path(best).name.split("-")[1]) if best else None,
            "best_metric": state.best_metric,
            "model": "best" if best else "last",
        }
    )
    return record


def stop_text(stopped: dict[str, Any]) -> str:
    """One sentence for the model card: where the run stopped, why, which model was kept."""
    why = {
        "patience": f"early stopping: {stopped['patience']} evaluations on dev without a better "
        f"{stopped.get('dev_metric')}",
        "epochs": "the last epoch",
        "steps": "the last step",
    }[stopped["reason"]]
    text = f"stopped at step {stopped['step']} (epoch {stopped['epoch']:.2f}) after {why}"
    if stopped["model"] == "best":
        text += (
            f"; the model saved is the best checkpoint on dev, step {stopped['best_step']} "
            f"({stopped['dev_metric']} {stopped['best_metric']:.4f}, {stopped['evaluations']} "
            "evaluations)"
        )
    return text
