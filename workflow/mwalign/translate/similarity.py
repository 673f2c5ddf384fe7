"""Cross-lingual similarity check: cosine between each source and its translation.

A fluent but wrong translation passes the length, script and repetition flags; under a
multilingual sentence encoder its embedding lies far from the source's. This step runs
per shard after translation (rule ``similarity``) and writes a side file of cosines
(schema :data:`mwalign.tables.SIMILARITY`) next to the shard, so that turning it on or
changing the encoder retranslates nothing and rewrites no shard; assemble compares the
cosines with ``translate.similarity.threshold`` (flag ``flag_low_similarity``), so a new
threshold recomputes no embedding either.

Embeddings go through the evaluate stage's caching encoder
(:func:`mwalign.evaluate.run.build_encoder`): keyed by the encoder's content hash and the
exact input, so the English side of a shard is encoded once for all its languages.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mwalign.files import read_table, write_json, write_table
from mwalign.provenance import provenance
from mwalign.tables import SIMILARITY, TRANSLATION

log = logging.getLogger(__name__)


def row_cosines(sources: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """Cosine of each row pair of two (n, dim) embedding matrices, as (n,) float32."""
    dots = np.einsum("nd,nd->n", sources, texts)  # (n,)
    norms = np.linalg.norm(sources, axis=1) * np.linalg.norm(texts, axis=1)  # (n,)
    return (dots / np.maximum(norms, 1e-12)).astype(np.float32)


def score_shard(
    *,
    shard_path: str | os.PathLike,
    encoder_dir: str | os.PathLike,
    settings: dict[str, Any],
    cache_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    stats_path: str | os.PathLike,
) -> dict[str, Any]:
    """Write the cosines of a translation shard (``out_path``) and their stats (JSON).

    ``settings`` is :func:`similarity_params`. Rows whose source or translation is blank
    get NaN (the empty flag covers them), never a low-similarity flag.
    """
    from mwalign.evaluate.run import build_encoder, encoder_params

    started = time.perf_counter()
    table = read_table(shard_path, TRANSLATION)
    ids = table.column("id").to_pylist()
    sources = table.column("source_text").to_pylist()
    texts = table.column("text").to_pylist()
    scored = [
        i for i, (s, t) in enumerate(zip(sources, texts, strict=True)) if s.strip() and t.strip()
    ]
    cosines = np.full(len(ids), np.nan, dtype=np.float32)
    params = encoder_params(
        precision="fp32",
        prefix=settings["prefix"],
        max_seq_length=settings["max_seq_length"],
        pooling=settings["pooling"],
        attention=settings["attention"],
        name=settings["student"] or "similarity",
    )
    encoder = build_encoder(encoder_dir, params, cache_dir, batch_size=settings["batch_size"])
    if scored:
        source_vectors = encoder.embed([sources[i] for i in scored])  # (n, dim)
        text_vectors = encoder.embed([texts[i] for i in scored])  # (n, dim)
        cosines[scored] = row_cosines(source_vectors, text_vectors)
    write_table(
        pa.table({"id": ids, "similarity": cosines}, schema=SIMILARITY), out_path, SIMILARITY
    )
    seconds = time.perf_counter() - started
    finite = cosines[np.isfinite(cosines)]
    stats = {
        "rows": len(ids),
        "scored_rows": len(scored),
        "mean": _round(finite.mean()) if len(finite) else None,
        "min": _round(finite.min()) if len(finite) else None,
        "seconds": round(seconds, 3),
        "seconds_per_1000_rows": round(1000 * seconds / len(ids), 3) if ids else None,
        **encoder.stats(),
        "provenance": provenance("similarity", settings, 0, encoder=str(Path(encoder_dir))),
    }
    write_json(stats, stats_path)
    log.info(
        "%s: %d rows scored in %.1f s (mean cosine %s)",
        shard_path, len(scored), seconds, stats["mean"],
    )  # fmt: skip
    return stats


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 4)
