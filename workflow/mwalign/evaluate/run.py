"""One evaluation job: a model folder, a task, the job's config slice -> an mteb result JSON."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from mwalign.files import atomic_path, read_json, write_json, write_table
from mwalign.precision import precision_for
from mwalign.tables import ITEMS

from .caches import EmbeddingStore, import_mteb, model_fingerprint
from .items import check_item_scores, item_table, items_path
from .params import OFFLINE_TASKS

log = logging.getLogger(__name__)

# Key of the result JSON (beside mteb's own) recording the settings the model was run with.
RESULT_SETTINGS_KEY = "mwalign"


def _load_model(model_path: Path, settings: dict[str, Any], params: dict[str, Any]) -> Any:
    """The model with its student's prefix and length (``settings``), pooling and attention
    mode (as it was trained)."""
    from mwalign.students import load_student

    return load_student(
        model_path,
        pooling=params["pooling"],
        attention=params["attention"],
        where=f"config.students.{params['student_name']}",
        **settings,
    )


def student_settings(model_path: Path, params: dict[str, Any]) -> dict[str, Any]:
    """``{"prefix", "max_seq_length"}`` the model is evaluated with: a base student's from
    the job's params, a trained model's as its folder saved them (``params["student"]``
    None); a value left None in ``params["student"]`` is the folder's own."""
    from mwalign.models.load import saved_student_settings

    settings = saved_student_settings(model_path)
    overrides = params["student"] or {}
    settings.update({key: value for key, value in overrides.items() if value is not None})
    return settings


def encoder_params(
    *,
    precision: str,
    prefix: str | None = None,
    max_seq_length: int | None = None,
    pooling: str | None = None,
    attention: str = "pretrained",
    name: str,
) -> dict[str, Any]:
    """The params :func:`build_encoder` reads, for an encoder that is not an evaluation
    job's (the similarity check, benchmarks): None keeps the folder's own prefix, length
    and pooling. ``name`` is the student or config key errors name."""
    return {
        "student": {"prefix": prefix, "max_seq_length": max_seq_length},
        "student_name": name,
        "pooling": pooling,
        "attention": attention,
        "precision": precision,
    }


def _check_seq_length(model_path: Path, params: dict[str, Any]) -> None:
    """The length the model is evaluated at fits its position embeddings (a base student's
    folder may be materialised only after the parse step checked the config)."""
    from mwalign.limits import check_seq_length, encoder_config

    model_config = encoder_config(model_path)
    if model_config is not None:
        length = student_settings(model_path, params)["max_seq_length"]
        key = "config.students.*.max_seq_length of this model"
        check_seq_length(key=key, value=length, model_config=model_config, model=str(model_path))


def _check_task_data(task_object: Any, task: str) -> None:
    """The data of an mteb task that mteb's own loader reads from the hub is cached or the
    hub answers: a message naming the key, not a datasets ConnectionError into the job.
    Tasks with a loader of their own (the project's, mteb's mocks) are left to it."""
    from mwalign.hub import hub_dataset_reason

    if not type(task_object).load_data.__module__.startswith("mteb.abstasks"):
        return
    dataset = task_object.metadata.dataset.get("path")  # mteb's metadata, not our config
    reason = dataset and hub_dataset_reason(dataset, key=f"config.evaluate.tasks: {task!r} reads")
    if reason:
        raise RuntimeError(reason)


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
    import torch

    from .encoder import CachedSentenceEncoder

    model_path = Path(model_path)
    # chosen here, on the machine that runs the job (the device the model will load on)
    precision = precision_for(params["precision"], "cuda" if torch.cuda.is_available() else "cpu")
    settings = student_settings(model_path, params)
    # the revision mteb records: the folder's content hash, the truncation length, pooling
    # and attention (a base folder is shared by students with different settings, applied
    # at load time) and the inference precision
    length = settings["max_seq_length"]
    revision = "-".join(
        [
            model_fingerprint(model_path)[:16],
            f"L{length}",
            params["pooling"] or "folder-pooling",
            params["attention"],
            precision.name,
        ]
    )
    store = None
    if cache_dir is not None:
        store = EmbeddingStore(Path(cache_dir) / "embeddings" / revision)
    return CachedSentenceEncoder(
        loader=lambda: _load_model(model_path, settings, params),
        name=f"mwalign/{model_path.name}",
        revision=revision,
        prompt=settings["prefix"],
        max_seq_length=length,
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

    Beside it, :func:`~.items.items_path` gets the per-item outputs (:mod:`.items`), checked
    to give mteb's own scores. ``params`` is :func:`mwalign.evaluate.params.evaluate_params` of
    the job. ``cache_dir`` holds
    the embedding store of this model (shared with its other tasks) and mteb's own cache
    folder; mteb's result cache is never read, so every call recomputes. Returns a
    summary: main score per subset, seconds, and the encoder's counts.
    """
    cache_dir = Path(cache_dir)
    model_path = Path(model_path)
    mteb = import_mteb(cache_dir / "mteb")
    start = time.perf_counter()
    _check_seq_length(model_path, params)
    task_object = build_task(task, params)
    if task not in OFFLINE_TASKS:
        _check_task_data(task_object, task)
    encoder = build_encoder(
        model_path, params, cache_dir if use_embedding_cache else None, batch_size
    )
    task_object.load_data()  # loaded here, mteb keeps the data: the items need its labels
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as predictions:
        result = mteb.evaluate(
            encoder,
            task_object,
            cache=None,
            overwrite_strategy="always",
            encode_kwargs={"batch_size": batch_size},
            co2_tracker=False,
            prediction_folder=predictions,
        )
        if result.exceptions:
            raise RuntimeError(f"mteb failed on {task}: {result.exceptions}")
        task_result = result.task_results[0]
        items = item_table(task_object, task_object._predictions_path(predictions))
    checked = check_item_scores(
        str(task_object.metadata.type), items.to_pandas(), task_result.to_dict()
    )
    write_table(items, items_path(out_path), ITEMS)
    with atomic_path(out_path) as tmp:
        task_result.to_disk(tmp)
        # how the embeddings were computed, beside mteb's fields (mteb ignores extra keys)
        record = read_json(tmp)
        record[RESULT_SETTINGS_KEY] = {
            "model": model_path.name,
            "student": student_settings(model_path, params),
            **encoder.record(),
        }
        write_json(record, tmp)
    import torch

    summary = {
        "task": task,
        "model": str(model_path),
        "seconds": round(time.perf_counter() - start, 2),
        "threads": torch.get_num_threads(),
        "main_score": {
            entry["hf_subset"]: entry["main_score"]
            for entries in task_result.scores.values()
            for entry in entries
        },
        "items": items.num_rows,
        "item_scores_checked": checked,
        **encoder.stats(),
    }
    log.info(
        "%s on %s: %.1f s on %d threads, %d encode calls, %d of %d sentences encoded",
        task,
        model_path,
        summary["seconds"],
        summary["threads"],
        summary["encode_calls"],
        summary["sentences_encoded"],
        summary["sentences_requested"],
    )
    return summary
