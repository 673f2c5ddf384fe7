"""One evaluation job: a model folder, a task, the job's config slice -> an mteb result JSON."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from mwalign.io import atomic_path

from .caches import EmbeddingStore, import_mteb, model_fingerprint
from .settings import OFFLINE_TASKS

log = logging.getLogger(__name__)


def _load_model(model_path: Path, params: dict[str, Any]) -> Any:
    """The model with its student's pooling and attention mode (as it was trained)."""
    from mwalign.students import load_student

    return load_student(
        model_path,
        pooling=params["pooling"],
        attention=params["attention"],
        where=f"config.students.{params['student']}",
    )


def build_task(task: str, params: dict[str, Any]) -> Any:
    """An mteb task object: one of the project's offline tasks, or an mteb task by name."""
    if task in OFFLINE_TASKS:
        from .bible_tasks import OFFLINE_TASK_CLASSES

        return OFFLINE_TASK_CLASSES[task](params)
    from .mteb_tasks import mteb_task

    return mteb_task(task, params)


def build_encoder(
    model_path: str | os.PathLike,
    params: dict[str, Any],
    cache_dir: str | os.PathLike | None,
    batch_size: int = 32,
) -> Any:
    """The model as a caching mteb encoder; ``cache_dir=None`` keeps embeddings in memory only."""
    from .encoder import CachedSentenceEncoder

    model_path = Path(model_path)
    precision = params["precision"]
    # the revision mteb records: the folder's content hash, the student's pooling and
    # attention (applied at load time, not stored in a base folder) and the precision
    revision = "-".join(
        [model_fingerprint(model_path)[:16], params["pooling"], params["attention"], precision]
    )
    store = None
    if cache_dir is not None:
        store = EmbeddingStore(Path(cache_dir) / "embeddings" / revision)
    return CachedSentenceEncoder(
        loader=lambda: _load_model(model_path, params),
        name=f"mwalign/{model_path.name}",
        revision=revision,
        prefix=params["prefix"],
        precision=precision,
        store=store,
        batch_size=batch_size,
    )


def evaluate_model(
    *,
    model_path: str | os.PathLike,
    task: str,
    params: dict[str, Any],
    out_path: str | os.PathLike,
    cache_dir: str | os.PathLike,
    batch_size: int = 32,
    use_embedding_cache: bool = True,
) -> dict[str, Any]:
    """Evaluate the sentence-transformers folder ``model_path`` on ``task``; write mteb's JSON.

    ``params`` is :func:`mwalign.evaluate.evaluate_params` of the job. ``cache_dir`` holds
    the embedding store of this model (shared with its other tasks) and mteb's own cache
    folder; mteb's result cache is never read, so every call recomputes. Returns a
    summary: main score per subset, seconds, and the encoder's counts.
    """
    cache_dir = Path(cache_dir)
    mteb = import_mteb(cache_dir / "mteb")
    start = time.perf_counter()
    encoder = build_encoder(
        model_path, params, cache_dir if use_embedding_cache else None, batch_size
    )
    task_object = build_task(task, params)
    result = mteb.evaluate(
        encoder,
        task_object,
        cache=None,
        overwrite_strategy="always",
        encode_kwargs={"batch_size": batch_size},
        co2_tracker=False,
    )
    if result.exceptions:
        raise RuntimeError(f"mteb failed on {task}: {result.exceptions}")
    task_result = result.task_results[0]
    with atomic_path(out_path) as tmp:
        task_result.to_disk(tmp)
    summary = {
        "task": task,
        "model": str(model_path),
        "seconds": round(time.perf_counter() - start, 2),
        "main_score": {
            entry["hf_subset"]: entry["main_score"]
            for entries in task_result.scores.values()
            for entry in entries
        },
        **encoder.stats(),
    }
    log.info(
        "%s on %s: %.1f s, %d encode calls, %d of %d sentences encoded",
        task,
        model_path,
        summary["seconds"],
        summary["encode_calls"],
        summary["sentences_encoded"],
        summary["sentences_requested"],
    )
    return summary
