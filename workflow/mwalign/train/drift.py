"""The drift regulariser's inputs in a train job: the frozen embeddings of each training
sentence joined to the dataset's ``label`` column, and the objective wrapped in
:class:`~mwalign.train.losses.DriftRegularised`.

Only runs with ``drift_weight > 0`` come here; the others keep their dataset and loss
exactly as they were. Frozen embeddings are looked up by (id, lang): each row's views in
order, English first (:func:`row_view_languages`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
from datasets import Dataset
from datasets.table import InMemoryTable
from torch import nn

from mwalign.frozen import frozen_embeddings
from mwalign.train.data import read_split_rows, rows_languages
from mwalign.train.job import TrainJob
from mwalign.train.losses import DriftRegularised

log = logging.getLogger(__name__)


def row_view_languages(
    params: dict, dataset_path: Path, *, split: str
) -> tuple[list[int], list[list[str]]]:
    """The job's train row ids and each row's view languages (multi-way: English and every
    target, or a k-language row's languages in slot order; En-X: English and the row's
    target), in the dataset's row order."""
    rows = read_split_rows(params=params, dataset_path=dataset_path, split=split)
    return rows["id"], rows_languages(params, rows)


def with_frozen_labels(
    dataset: Dataset,
    ids: list[int],
    params: dict,
    dataset_path: Path,
    frozen_path: Path,
    *,
    split: str,
) -> tuple[Dataset, int, tuple[int, int] | None]:
    """``dataset`` (of the ``split`` rows) whose ``label`` holds each row's frozen
    embeddings (V * d floats), then its teacher labels flattened, if any. Returns it, d
    and the teacher labels' shape."""
    row_ids, languages = row_view_languages(params, Path(dataset_path), split=split)
    if row_ids != list(ids):
        raise ValueError(f"{dataset_path}: the train rows changed while the job read them")
    frozen = frozen_embeddings(frozen_path, row_ids, languages)  # (N, V, d)
    count, views, dim = frozen.shape
    parts, label_shape = [frozen.reshape(count, -1)], None
    if "label" in dataset.column_names:
        teacher = np.asarray(dataset["label"], dtype=np.float32)  # (N, V_t, d_t)
        label_shape = teacher.shape[1:]
        parts.append(teacher.reshape(count, -1))
        dataset = dataset.remove_columns("label")
    flat = np.concatenate(parts, axis=1)  # (N, V * d + V_t * d_t)
    column = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])
    dataset = Dataset(InMemoryTable(dataset.data.table.append_column("label", column)))
    # tensors straight from Arrow: no per-step Python lists of floats
    dataset.set_format("torch", columns=["label"], output_all_columns=True)
    log.info("drift regulariser: frozen embeddings of %d rows x %d views (d %d)", count, views, dim)
    return dataset, dim, label_shape


def drift_inputs(
    job: TrainJob, dataset: Dataset, ids: list[int], loss: nn.Module, views: int
) -> tuple[Dataset, DriftRegularised]:
    """A drift-regularised job's dataset (frozen embeddings joined to its labels) and its
    objective ``loss`` with the drift term at ``train.drift_weight``."""
    weight = job.params["train"]["drift_weight"]
    if job.frozen_path is None:
        raise ValueError(
            f"train.drift_weight = {weight} needs the frozen embeddings file (rule frozen's output)"
        )
    dataset, dim, shape = with_frozen_labels(
        dataset, ids, job.params, job.dataset_path, job.frozen_path, split="train"
    )
    return dataset, DriftRegularised(loss, weight, views=views, dim=dim, label_shape=shape)


def drift_dev_dataset(job: TrainJob, dataset: Dataset, ids: list[int]) -> Dataset:
    """The dev split's dataset with the frozen embeddings joined to its labels, as
    :func:`drift_inputs` does for the train split, so the dev loss is the training loss."""
    dev, _, _ = with_frozen_labels(
        dataset, ids, job.params, job.dataset_path, job.frozen_path, split="dev"
    )
    return dev
