"""Training data: the multi-way or En-X table as language views (or as k-language rows,
``train.row_languages``), teacher labels, and a batch sampler that never puts the same
sentence id twice in a batch."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from datasets import Dataset
from sentence_transformers.base.sampler import DefaultBatchSampler

from mwalign import files, tables
from mwalign.assemble import draw_enx_languages, draw_row_languages
from mwalign.paths import SOURCE_LANGUAGE
from mwalign.provenance import derive_seed
from mwalign.teacher import read_teacher_table
from mwalign.train.params import (
    dataset_name,
    derived_budget,
    k_language_rows,
    row_languages,
    teacher_labels_per_view,
)

log = logging.getLogger(__name__)


def slot_columns(k: int) -> list[str]:
    """Column names of a k-language row's sentences: ``slot_0`` .. ``slot_{k-1}``."""
    return [f"slot_{j}" for j in range(k)]


def row_language_indices(params: dict, ids: list[int]) -> np.ndarray:
    """The languages of each k-language row: (N, k) indices into [en, *languages], sorted,
    drawn per row from ``row_languages_seed`` and the id (the same for every run and seed)."""
    return draw_row_languages(
        np.array(ids),
        len(params["languages"]) + 1,
        row_languages(params),
        params["train"]["row_english"],
        params["row_languages_seed"],
    )


def rows_languages(params: dict, rows: dict[str, list]) -> list[list[str]]:
    """The languages each train row (from :func:`read_train_rows`) holds."""
    names = [SOURCE_LANGUAGE, *params["languages"]]
    if params["data"] == "enx":
        return [[SOURCE_LANGUAGE, lang] for lang in rows["lang"]]
    if k_language_rows(params):
        return [[names[i] for i in row] for row in row_language_indices(params, rows["id"])]
    return [names] * len(rows["id"])


def view_languages(data: str, languages: list[str]) -> list[str]:
    """Column names of the views, English first: all languages (multi-way) or en + text (En-X)."""
    if data == "multiway":
        return [SOURCE_LANGUAGE, *languages]
    if data == "enx":
        return [SOURCE_LANGUAGE, "text"]
    raise ValueError(f"unknown data mode {data!r}; allowed: ['multiway', 'enx']")


def take_train_rows(table: pa.Table, *, count: int | None, seed: int, path: Path) -> pa.Table:
    """``count`` rows of the train split (all when None), in file order.

    The rows kept are those whose ids hash lowest under ``seed``: the same ids for every
    run and seed of an experiment, for multi-way and En-X alike (both tables have the
    same rows), and a smaller ``count`` keeps a subset of a larger one's rows.
    """
    if count is None:
        return table
    if count > table.num_rows:
        raise ValueError(
            f"train_rows = {count}, but {path} has {table.num_rows} rows in the 'train' "
            "split; lower train_rows or raise corpus.size"
        )
    ids = table["id"].to_pylist()
    order = sorted(range(len(ids)), key=lambda i: (derive_seed(seed, ids[i]), ids[i]))
    return table.take(sorted(order[:count]))


def read_train_rows(*, params: dict, dataset_path: Path) -> dict[str, list]:
    """A job's train rows (:func:`read_split_rows` of the ``train`` split)."""
    return read_split_rows(params=params, dataset_path=dataset_path, split="train")


def read_split_rows(*, params: dict, dataset_path: Path, split: str) -> dict[str, list]:
    """A job's rows of ``split`` (``train`` or ``dev``) as columns: ``id``, ``lang`` (En-X
    target or None), one per view.

    ``dataset_path`` is the file :func:`~mwalign.train.params.dataset_name` names. An
    En-X job with ``enx_targets: per_seed`` reads the multi-way table and draws each
    row's target as assemble does, but with the job's seed, so its seeds vary the draw.
    ``train_rows`` limits the train split only: the dev split is always read whole.
    """
    data, languages = params["data"], params["languages"]
    source = dataset_name(params)
    schema = tables.multiway_schema(languages) if source == "multiway" else tables.ENX
    table = files.read_table(dataset_path, schema)
    table = table.filter(pc.equal(table["split"], split))
    if table.num_rows == 0:
        raise ValueError(
            f"{dataset_path}: no rows in the {split!r} split"
            + (" (raise dataset.dev_fraction or corpus.size)" if split == "dev" else "")
        )
    if split == "train":
        count = derived_budget(params)["train_rows"]
        if count != params["train"]["train_rows"] and count > table.num_rows:
            # match: pairs derives train_rows * C(k, 2) En-X rows; the split caps it
            log.info(
                "match: pairs asks for %d En-X rows; %s has %d train rows: taking all of them",
                count,
                dataset_path,
                table.num_rows,
            )
            count = None
        table = take_train_rows(table, count=count, seed=params["rows_seed"], path=dataset_path)
    rows = {"id": table["id"].to_pylist(), SOURCE_LANGUAGE: table[SOURCE_LANGUAGE].to_pylist()}
    if data == "multiway":
        rows["lang"] = [None] * table.num_rows
        rows.update({lang: table[lang].to_pylist() for lang in languages})
    elif source == "enx":
        rows["lang"], rows["text"] = table["lang"].to_pylist(), table["text"].to_pylist()
    else:
        rows["lang"] = draw_enx_languages(np.array(rows["id"]), languages, params["seed"]).tolist()
        texts = {lang: table[lang].to_pylist() for lang in languages}
        rows["text"] = [texts[lang][i] for i, lang in enumerate(rows["lang"])]
    return rows


def teacher_labels(teacher_path: Path, ids: list[int], view_langs: list[list[str]]) -> np.ndarray:
    """Teacher embeddings per row and view: (N, V_t, d); V_t = len of each ``view_langs`` row.

    ``view_langs[i]`` lists the languages whose teacher embedding row i needs, e.g.
    ``["en"]`` (priority) or ``["en", "de", ...]`` (average). A missing (id, lang) raises.
    """
    table = read_teacher_table(teacher_path)
    dim = table.schema.field("embedding").type.list_size
    matrix = np.asarray(table["embedding"].combine_chunks().flatten(), dtype=np.float32).reshape(
        -1, dim
    )
    keys = zip(table["id"].to_pylist(), table["lang"].to_pylist(), strict=True)
    index = {key: row for row, key in enumerate(keys)}
    have = sorted(set(table["lang"].to_pylist()))
    out = np.empty((len(ids), len(view_langs[0]), dim), dtype=np.float32)
    for i, (sid, langs) in enumerate(zip(ids, view_langs, strict=True)):
        for j, lang in enumerate(langs):
            row = index.get((sid, lang))
            if row is None:
                raise ValueError(
                    f"{teacher_path}: no teacher embedding for sentence id {sid} in {lang!r}; "
                    f"the file has languages {have}; rerun the teacher stage with "
                    "teacher.languages covering the training languages"
                )
            out[i, j] = matrix[row]
    return out


def build_dataset(
    params: dict, dataset_path: Path, teacher_path: Path | None = None
) -> tuple[Dataset, list[int]]:
    """A datasets.Dataset with one text column per view (+ ``label``) and the row ids.

    Labels are the precomputed teacher embeddings, (V_t, d) per row: English only, or
    every view where the label strategy reads them (:func:`teacher_labels_per_view`). Ids
    stay outside the dataset (the collator would tokenise them) and go to
    :class:`UniqueIdBatchSampler`.
    """
    rows = read_train_rows(params=params, dataset_path=dataset_path)
    return dataset_from_rows(params, rows, teacher_path), rows["id"]


def build_dev_dataset(
    params: dict, dataset_path: Path, teacher_path: Path | None = None
) -> tuple[Dataset, dict[str, list]]:
    """The dev split as :func:`build_dataset` makes the train split, with its rows'
    columns (for :func:`mwalign.train.dev.dev_evaluator`)."""
    rows = read_split_rows(params=params, dataset_path=dataset_path, split="dev")
    return dataset_from_rows(params, rows, teacher_path), rows


def dataset_from_rows(params: dict, rows: dict[str, list], teacher_path: Path | None) -> Dataset:
    """:func:`build_dataset`'s Dataset of ``rows``."""
    if k_language_rows(params):
        return k_language_dataset(params, rows)
    data, languages = params["data"], params["languages"]
    columns = view_languages(data, languages)
    dataset = {column: rows[column] for column in columns}
    if params["teacher"] is not None:
        if teacher_path is None:
            raise ValueError(f"objective {params['objective']!r} needs the teacher embeddings file")
        if teacher_labels_per_view(params):
            if data == "multiway":
                langs = [columns] * len(rows["id"])
            else:
                langs = [[SOURCE_LANGUAGE, lang] for lang in rows["lang"]]
        else:
            langs = [[SOURCE_LANGUAGE]] * len(rows["id"])
        dataset["label"] = teacher_labels(Path(teacher_path), rows["id"], langs).tolist()
    log.info("training data: %d %s rows, views %s", len(rows["id"]), data, columns)
    if data == "enx":
        targets = dict(sorted(Counter(rows["lang"]).items()))
        log.info("En-X targets (%s): %s", params["train"]["enx_targets"], targets)
    return Dataset.from_dict(dataset)


def k_language_dataset(params: dict, rows: dict[str, list]) -> Dataset:
    """k-language rows (``train.row_languages``): k text columns ``slot_j`` holding each
    row's languages in view order (English first where present), and ``label``, the
    row's (k,) language indices into [en, *languages], which the loss reads to put every
    sentence in its language view (:class:`~mwalign.train.losses.MultiwayInfoNCE`)."""
    names = [SOURCE_LANGUAGE, *params["languages"]]
    chosen = row_language_indices(params, rows["id"])
    dataset = {
        column: [rows[names[lang]][i] for i, lang in enumerate(chosen[:, j].tolist())]
        for j, column in enumerate(slot_columns(chosen.shape[1]))
    }
    dataset["label"] = chosen.tolist()
    counts = Counter(names[lang] for lang in chosen.ravel().tolist())
    log.info(
        "training data: %d multi-way rows of %d languages (%s English), sentences per language %s",
        len(rows["id"]),
        chosen.shape[1],
        params["train"]["row_english"],
        dict(sorted(counts.items())),
    )
    return Dataset.from_dict(dataset)


class UniqueIdBatchSampler(DefaultBatchSampler):
    """Shuffled batches in which no sentence id occurs twice (a duplicate would be a false
    negative for every contrastive loss). A row whose id is already in the batch waits for
    a later batch. Incomplete last batches are dropped, so every batch has ``batch_size``.

    The trainer's ``batch_sampler`` argument takes :class:`UniqueIdBatchSamplers`; it
    reshuffles every epoch from ``seed + epoch``.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        drop_last: bool = True,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        *,
        ids: list[int],
    ) -> None:
        super().__init__(dataset, batch_size, True, valid_label_columns, generator, seed)
        if len(ids) != len(dataset):
            raise ValueError(f"{len(ids)} ids for a dataset of {len(dataset)} rows")
        if len(set(ids)) < batch_size:
            raise ValueError(
                f"only {len(set(ids))} distinct sentence ids for batches of {batch_size}; "
                "lower train.batch_ids or train on more sentences"
            )
        self.ids = list(ids)

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        waiting: list[int] = []
        batch: list[int] = []
        seen: set[int] = set()
        for index in torch.randperm(len(self.ids), generator=generator).tolist():
            waiting.append(index)
            still_waiting = []
            for candidate in waiting:
                if self.ids[candidate] in seen:
                    still_waiting.append(candidate)
                    continue
                batch.append(candidate)
                seen.add(self.ids[candidate])
                if len(batch) == self.batch_size:
                    yield batch
                    batch, seen = [], set()
            waiting = still_waiting
        # what is left forms no full batch of distinct ids: dropped for this epoch

    def __len__(self) -> int:
        return len(self.ids) // self.batch_size


class UniqueIdBatchSamplers:
    """The Trainer's ``batch_sampler``: a :class:`UniqueIdBatchSampler` with the ids of the
    dataset it batches, the train split's or the dev split's (the same Dataset objects
    given to the Trainer, which batches each with this).

    Dev batches take as many rows as a training step, or every dev row where the dev
    split has fewer (the dev loss then has fewer in-batch negatives than training).
    """

    def __init__(
        self, train: tuple[Dataset, list[int]], dev: tuple[Dataset, list[int]] | None = None
    ) -> None:
        self.ids = {id(train[0]): train[1]}
        self.dev = None if dev is None else id(dev[0])
        if dev is not None:
            self.ids[id(dev[0])] = dev[1]

    def __call__(self, dataset: Dataset, **kwargs) -> UniqueIdBatchSampler:
        ids = self.ids.get(id(dataset))
        if ids is None:
            raise ValueError("no sentence ids for this dataset: not the train or dev split given")
        if id(dataset) == self.dev:
            kwargs["batch_size"] = min(kwargs["batch_size"], len(set(ids)))
        return UniqueIdBatchSampler(dataset, ids=ids, **kwargs)
