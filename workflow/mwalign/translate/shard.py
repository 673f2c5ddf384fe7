"""Translate one shard of the English corpus into one language.

Shard ``k`` holds the corpus rows with ``k * shard_size <= id < (k + 1) * shard_size``.
Finished batches are persisted under a work folder as they complete, so a killed job
resumes where it stopped; the shard file appears atomically, only once complete.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from mwalign.files import read_table, write_json, write_table
from mwalign.provenance import derive_seed, provenance
from mwalign.tables import CORPUS, FLAG_COLUMNS, TRANSLATION
from mwalign.translate.backends import Backend, make_backend
from mwalign.translate.batching import make_batches
from mwalign.translate.flags import flag_columns
from mwalign.translate.sources import prepare_sources
from mwalign.translate.store import BatchStore, fingerprint

log = logging.getLogger(__name__)

REFERENCE_BATCH = 256  # rows per persisted batch of the reference backend


def read_shard(corpus_path: str | Path, shard: int, shard_size: int) -> pa.Table:
    """Rows of shard ``shard`` of the corpus, in id order (empty past the end of the data)."""
    if shard < 0:
        raise ValueError(f"shard is {shard!r}; allowed: an integer >= 0")
    table = read_table(corpus_path, CORPUS)
    ids = table.column("id")
    mask = pc.and_(
        pc.greater_equal(ids, shard * shard_size), pc.less(ids, (shard + 1) * shard_size)
    )
    return table.filter(mask).sort_by("id")


def _batching(params: dict) -> dict:
    """Batcher settings of the configured backend."""
    settings = params[params["backend"]]
    if params["backend"] in ("transformers", "ctranslate2"):
        keys = ("token_budget", "max_batch_size", "sort_by_length")
        return {key: settings[key] for key in keys}
    size = settings["chunk_size"] if params["backend"] == "vllm" else REFERENCE_BATCH
    return {"token_budget": math.inf, "max_batch_size": size, "sort_by_length": True}


def is_out_of_memory(err: BaseException) -> bool:
    """A GPU (or CPU allocator) out-of-memory error that a smaller batch may avoid."""
    try:
        import torch

        if isinstance(err, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    message = str(err).lower()
    return isinstance(err, RuntimeError | MemoryError) and any(
        text in message for text in ("out of memory", "can't allocate memory")
    )


def _free_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


def translate_halving(
    backend: Backend, texts: list[str], refs: list[str], counters: dict[str, int]
) -> list[str]:
    """``backend.translate``; on out of memory, halve the batch and retry each half."""
    try:
        outputs = backend.translate(texts, refs)
    except (RuntimeError, MemoryError) as err:
        if not is_out_of_memory(err) or len(texts) == 1:
            raise
        half = len(texts) // 2
        counters["oom_halvings"] += 1
        log.warning(
            "out of memory on a batch of %d; retrying as %d + %d",
            len(texts),
            half,
            len(texts) - half,
        )
        _free_memory()
        first = translate_halving(backend, texts[:half], refs[:half], counters)
        return first + translate_halving(backend, texts[half:], refs[half:], counters)
    if len(outputs) != len(texts):
        raise RuntimeError(
            f"{backend.name} returned {len(outputs)} translations for {len(texts)} sources"
        )
    return outputs


def _run_batches(
    *,
    backend: Backend,
    inputs: list[str | None],
    ids: list[int],
    refs: list[str],
    done: dict[int, str],
    store: BatchStore,
    batching: dict,
    counters: dict[str, int],
    desc: str,
) -> float:
    """Translate every row with an input that ``done`` lacks; returns the seconds it took
    (model loading excluded: it is counted in ``counters['load_seconds']``)."""
    pending = [pos for pos, text in enumerate(inputs) if text is not None and ids[pos] not in done]
    lengths = backend.input_lengths([inputs[pos] for pos in pending]) if pending else []
    batches = make_batches(lengths, **batching)
    if pending:  # load the model outside the timed part (a resumed shard may not need it)
        loading = time.perf_counter()
        backend.load()
        counters["load_seconds"] = round(time.perf_counter() - loading, 3)
    started, cpu_started = time.perf_counter(), time.process_time()
    with tqdm(total=len(pending), desc=desc, unit="sent", dynamic_ncols=True) as bar:
        for batch in batches:
            positions = [pending[index] for index in batch]
            texts = translate_halving(
                backend,
                [inputs[pos] for pos in positions],
                [refs[pos] for pos in positions],
                counters,
            )
            batch_ids = [ids[pos] for pos in positions]
            store.save(batch_ids, texts)
            done.update(zip(batch_ids, texts, strict=True))
            counters["batches"] += 1
            counters["translated_rows"] += len(positions)
            bar.update(len(positions))
            elapsed = max(time.perf_counter() - started, 1e-9)
            bar.set_postfix(tok_s=f"{backend.generated_tokens / elapsed:.1f}")
    # CPU time of this process: on a shared machine, a steadier measure than wall time
    counters["translate_cpu_seconds"] = round(time.process_time() - cpu_started, 3)
    return time.perf_counter() - started


def write_translations(
    ids: list[int],
    sources: list[str],
    texts: list[str],
    lang: str,
    flags_cfg: dict,
    out_path: str | Path,
) -> dict[str, int]:
    """Write a shard file (schema TRANSLATION) with quality flags; return each flag's count."""
    flags = flag_columns(sources, texts, lang, flags_cfg)
    table = pa.table(
        {"id": ids, "lang": [lang] * len(ids), "source_text": sources, "text": texts, **flags},
        schema=TRANSLATION,
    )
    write_table(table, out_path, TRANSLATION)
    return {name: sum(flags[name]) for name in FLAG_COLUMNS}


def translate_shard(
    *,
    corpus_path: str | Path,
    lang: str,
    shard: int,
    params: dict,
    out_path: str | Path,
    stats_path: str | Path,
    work_dir: str | Path,
    seed: int,
    model_dir: str | Path | None = None,
) -> dict:
    """Translate shard ``shard`` of the corpus into ``lang``; write the shard and its stats.

    ``params`` is :func:`mwalign.translate.params.translate_params` for ``lang``; ``work_dir``
    keeps finished batches between attempts (removed once the shard is written);
    ``seed`` is the experiment seed (the job derives its own from it); ``model_dir`` is
    the translator folder of a model backend (fetch_model's output; None for reference). Writes
    ``out_path`` (schema TRANSLATION, id order) and ``stats_path`` (JSON); returns the stats.
    """
    if params["language"] != lang:
        raise ValueError(f"params are for language {params['language']!r}, not {lang!r}")
    started = time.perf_counter()
    rows = read_shard(corpus_path, shard, params["shard_size"])
    ids = rows.column("id").to_pylist()
    sources = rows.column("text").to_pylist()
    refs = rows.column("ref").to_pylist()
    job_seed = derive_seed(seed, "translate", lang, shard)
    backend = make_backend(params, job_seed, model_dir=str(model_dir) if model_dir else None)
    backend.check_corpus(rows.column("source").to_pylist())
    settings = params[params["backend"]]
    # the reference backend has no token limit: its settings lack both keys
    prepared = prepare_sources(
        sources, backend, settings.get("max_source_tokens"), settings.get("too_long")
    )
    store = BatchStore(work_dir, fingerprint(params, lang, seed, ids, sources))
    done, resumed_batches = store.load()
    resumed_rows = len(done)
    counters = {
        "batches": 0,
        "translated_rows": 0,
        "oom_halvings": 0,
        "load_seconds": 0.0,
        "translate_cpu_seconds": 0.0,
    }
    batching = _batching(params)
    desc = f"translate {lang}/{shard}"
    seconds = _run_batches(
        backend=backend,
        inputs=prepared.inputs,
        ids=ids,
        refs=refs,
        done=done,
        store=store,
        batching=batching,
        counters=counters,
        desc=desc,
    )
    texts = [
        done.get(row_id, "") if text is not None else ""
        for row_id, text in zip(ids, prepared.inputs, strict=True)
    ]
    flag_counts = write_translations(ids, sources, texts, lang, params["flags"], out_path)
    stats = {
        "language": lang,
        "shard": shard,
        "rows": len(ids),
        "backend": backend.name,
        "model": backend.model,
        "flags": flag_counts,
        **prepared.counts,
        **counters,
        "resumed_batches": resumed_batches,
        "resumed_rows": resumed_rows,
        "translate_seconds": round(seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
        "sentences_per_second": _rate(counters["translated_rows"], seconds),
        "generated_tokens": backend.generated_tokens,
        "tokens_per_second": _rate(backend.generated_tokens, seconds),
        "provenance": provenance(
            "translate", params, seed, job_seed=job_seed, backend=backend.provenance()
        ),
    }
    write_json(stats, stats_path)
    store.clear()
    rate = stats["sentences_per_second"] or 0
    log.info(
        "%s/%d: %d rows, %d translated now, %d resumed, %.1f sentences/s",
        lang, shard, len(ids), counters["translated_rows"], resumed_rows, rate,
    )  # fmt: skip
    return stats


def _rate(count: int, seconds: float) -> float | None:
    return round(count / seconds, 3) if count and seconds > 0 else None
