"""Stage `teacher`: embed every English sentence once with the monolingual teacher.

Everything that needs teacher similarities (soft labels, similarity MSE, embedding
distillation) reads this file; nothing recomputes the teacher in a training loop.
The teacher embeds English from the sampled corpus (so adding a target language does
not rerun it) and, when ``teacher.languages`` lists them, target-language sentences
from the multi-way dataset (for the ``average`` and ``pair_priority`` label strategies).
Every sentence is embedded with ``teacher.prefix`` in front of it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mwalign import files, tables
from mwalign.paths import SOURCE_LANGUAGE
from mwalign.provenance import provenance

log = logging.getLogger(__name__)


def teacher_inputs(
    corpus_path: Path, multiway_path: Path | None, languages: list[str]
) -> pd.DataFrame:
    """Rows (id, lang, text) to embed: corpus English plus requested target languages."""
    corpus = files.read_table(corpus_path, tables.CORPUS).to_pandas()
    frames = [pd.DataFrame({"id": corpus["id"], "lang": SOURCE_LANGUAGE, "text": corpus["text"]})]
    targets = [lang for lang in languages if lang != SOURCE_LANGUAGE]
    if targets:
        if multiway_path is None:
            raise ValueError(f"teacher.languages {targets} need the multi-way dataset as input")
        multiway = files.read_table(multiway_path).to_pandas()
        for lang in targets:
            if lang not in multiway.columns:
                raise ValueError(f"teacher.languages: {lang!r} is not a column of {multiway_path}")
            frames.append(
                pd.DataFrame({"id": multiway["id"], "lang": lang, "text": multiway[lang]})
            )
    return pd.concat(frames, ignore_index=True)


def embed_teacher(
    *,
    model_path: Path,
    corpus_path: Path,
    out_path: Path,
    info_path: Path,
    settings: dict,
    multiway_path: Path | None = None,
    device: str | None = None,
) -> dict:
    """Run the stage: write (id, lang, embedding) rows and a provenance record."""
    from mwalign.models.integrity import read_model_info
    from mwalign.models.load import load_sentence_transformer

    rows = teacher_inputs(corpus_path, multiway_path, settings["languages"])
    model = load_sentence_transformer(model_path, device=device)
    start = time.perf_counter()
    # The prefix is put before the text as IMASCL does ("query: " for e5 teachers).
    embeddings = model.encode(
        [settings["prefix"] + text for text in rows["text"]],
        batch_size=settings["batch_size"],
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=True,
    ).astype(np.float32)  # (rows, dim)
    seconds = time.perf_counter() - start
    dim = embeddings.shape[1]
    table = pa.table(
        {
            "id": pa.array(rows["id"].to_numpy(), pa.int64()),
            "lang": pa.array(rows["lang"].tolist(), pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(embeddings.reshape(-1)), dim),
        }
    )
    files.write_table(table, out_path, tables.teacher_schema(dim))
    info = provenance(
        "teacher",
        settings,
        model=read_model_info(model_path),
        rows=len(rows),
        dim=dim,
        seconds=round(seconds, 2),
        sentences_per_second=round(len(rows) / max(seconds, 1e-9), 1),
    )
    files.write_json(info, info_path)
    log.info("teacher embedded %d sentences in %.1f s", len(rows), seconds)
    return info


def read_teacher_table(path: str | Path) -> pa.Table:
    """A teacher file, its schema checked: id, lang, and a fixed-size list ``embedding``."""
    table = files.read_table(path)
    names = table.schema.names
    if "embedding" not in names or not pa.types.is_fixed_size_list(
        table.schema.field("embedding").type
    ):
        raise files.StageInputError(
            f"{path}: wrong schema: a teacher file needs a fixed-size list column 'embedding'; "
            f"columns: {names}"
        )
    dim = table.schema.field("embedding").type.list_size
    files.check_schema(table.schema, tables.teacher_schema(dim), path)
    return table
