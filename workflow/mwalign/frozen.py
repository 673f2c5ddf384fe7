"""Stage `frozen`: embed a dataset's training sentences once with the pretrained student.

The drift regulariser (``train.drift_weight``, :class:`mwalign.train.losses.DriftRegularised`)
keeps each training embedding near the pretrained student's embedding of the same
sentence. Those embeddings are computed here, once per (student, dataset), and read
by every run of that student on that dataset, so no training step runs a second copy
of the model. A job exists only while some run has ``drift_weight > 0``.

The student encodes exactly as training does: the student's prefix as its prompt, its
``max_seq_length``, pooling and attention, then L2 normalisation; in fp32 on any
device (the training embeddings they are compared with are normalised the same way).
Rows: every (id, lang) of the dataset's train and dev splits (the dev rows for the dev
loss of a run that evaluates on dev, ``train.eval_every``): English and each target
language of a multi-way row, English and the row's one target of an En-X row.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mwalign import files, tables
from mwalign.jobs import frozen_job, train_jobs
from mwalign.paths import MODEL_INFO_FILE, SOURCE_LANGUAGE
from mwalign.provenance import provenance
from mwalign.train.params import dataset_name, train_params

log = logging.getLogger(__name__)

# The student settings that change its embeddings (the frozen job's params take these).
STUDENT_KEYS = ("model", "prefix", "max_seq_length", "pooling", "attention")


def frozen_params(config: dict[str, Any], student: str, dataset: str) -> dict[str, Any]:
    """The config slice one frozen job depends on: the student's encoding settings, the
    dataset's name and the languages it holds (changing a training setting reruns nothing)."""
    settings = config["students"][student]
    return {
        "student": {"name": student, **{key: settings[key] for key in STUDENT_KEYS}},
        "dataset": dataset,
        "languages": list(config["languages"]),
    }


# Sentences per encode batch: a throughput setting, not an experiment fact (not in params).
FROZEN_BATCH_SIZE = 64


def frozen_jobs(config: dict[str, Any]) -> list[str]:
    """Frozen-embeddings jobs (:func:`mwalign.jobs.frozen_job`) of the train jobs with
    ``drift_weight > 0``, once each in config order; empty when no run uses the regulariser."""
    found: dict[str, None] = {}
    for job in train_jobs(config):
        params = train_params(config, job)
        if params["train"]["drift_weight"] > 0:
            found[frozen_job(params["student"]["name"], dataset_name(params))] = None
    return list(found)


def frozen_inputs(dataset_path: Path, dataset: str, languages: list[str]) -> pd.DataFrame:
    """Rows (id, lang, text) to embed: each sentence of the dataset's train and dev splits."""
    schema = tables.multiway_schema(languages) if dataset == "multiway" else tables.ENX
    table = files.read_table(dataset_path, schema)
    table = table.filter(pc.is_in(table["split"], pa.array(["train", "dev"]))).to_pandas()
    frames = [pd.DataFrame({"id": table["id"], "lang": SOURCE_LANGUAGE, "text": table["en"]})]
    if dataset == "multiway":
        frames += [
            pd.DataFrame({"id": table["id"], "lang": lang, "text": table[lang]})
            for lang in languages
        ]
    else:
        frames.append(
            pd.DataFrame({"id": table["id"], "lang": table["lang"], "text": table["text"]})
        )
    return pd.concat(frames, ignore_index=True)


def embed_frozen(
    *,
    student_path: Path,
    dataset_path: Path,
    out_path: Path,
    info_path: Path,
    settings: dict[str, Any],
    device: str | None = None,
) -> dict[str, Any]:
    """Run the stage: write (id, lang, embedding) rows and a provenance record."""
    import torch

    from mwalign.students import load_student

    student = settings["student"]
    rows = frozen_inputs(Path(dataset_path), settings["dataset"], settings["languages"])
    model = load_student(
        student_path,
        pooling=student["pooling"],
        attention=student["attention"],
        max_seq_length=student["max_seq_length"],
        prefix=student["prefix"],
        device=device,
        where=f"config.students.{student['name']}",
    ).float()
    start = time.perf_counter()
    with torch.inference_mode():
        embeddings = model.encode(
            rows["text"].tolist(),
            batch_size=FROZEN_BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=True,
        ).astype(np.float32)  # (rows, dim)
    seconds = time.perf_counter() - start
    write_frozen_table(rows, embeddings, Path(out_path))
    info = provenance(
        "frozen",
        settings,
        student=student_info(Path(student_path)),
        rows=len(rows),
        dim=int(embeddings.shape[1]),
        precision="fp32",
        seconds=round(seconds, 2),
        sentences_per_second=round(len(rows) / max(seconds, 1e-9), 1),
    )
    files.write_json(info, info_path)
    log.info("frozen student embedded %d sentences in %.1f s", len(rows), seconds)
    return info


def student_info(student_path: Path) -> dict[str, Any]:
    """The materialised student's record (model id, revision, hashes), or its path."""
    from mwalign.models.integrity import read_model_info

    if (student_path / MODEL_INFO_FILE).is_file():
        return read_model_info(student_path)
    return {"path": str(student_path)}


def write_frozen_table(rows: pd.DataFrame, embeddings: np.ndarray, path: Path) -> None:
    dim = embeddings.shape[1]
    table = pa.table(
        {
            "id": pa.array(rows["id"].to_numpy(), pa.int64()),
            "lang": pa.array(rows["lang"].tolist(), pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(embeddings.reshape(-1)), dim),
        }
    )
    files.write_table(table, path, tables.frozen_schema(dim))


def read_frozen_table(path: str | Path) -> pa.Table:
    """A frozen-embeddings file, its schema checked (:func:`mwalign.tables.frozen_schema`)."""
    table = files.read_table(path)
    field = table.schema.field("embedding") if "embedding" in table.schema.names else None
    if field is None or not pa.types.is_fixed_size_list(field.type):
        raise files.StageInputError(
            f"{path}: wrong schema: a frozen-embeddings file needs a fixed-size list column "
            f"'embedding'; columns: {table.schema.names}"
        )
    files.check_schema(table.schema, tables.frozen_schema(field.type.list_size), path)
    return table


def frozen_embeddings(path: str | Path, ids: list[int], view_langs: list[list[str]]) -> np.ndarray:
    """Frozen embeddings per row and view, (N, V, d): row i's languages ``view_langs[i]``.

    A missing (id, lang) raises, naming the file and what it holds.
    """
    table = read_frozen_table(path)
    dim = table.schema.field("embedding").type.list_size
    matrix = np.asarray(table["embedding"].combine_chunks().flatten(), dtype=np.float32)
    matrix = matrix.reshape(-1, dim)  # (rows, d)
    keys = zip(table["id"].to_pylist(), table["lang"].to_pylist(), strict=True)
    index = {key: row for row, key in enumerate(keys)}
    picks = np.empty((len(ids), len(view_langs[0])), dtype=np.int64)  # (N, V)
    for i, (sid, langs) in enumerate(zip(ids, view_langs, strict=True)):
        for j, lang in enumerate(langs):
            row = index.get((sid, lang))
            if row is None:
                have = sorted(set(table["lang"].to_pylist()))
                raise ValueError(
                    f"{path}: no frozen embedding for sentence id {sid} in {lang!r}; the file "
                    f"has languages {have}; rerun rule frozen (delete the file) for this dataset"
                )
            picks[i, j] = row
    return matrix[picks]  # (N, V, d)
