"""Stage `sample`: read an English corpus, normalise, filter, deduplicate, take a seeded sample.

Sources: the packaged Bible (``bible``), a local file (``file``: .txt one sentence per
line, .jsonl, .parquet), a Hugging Face dataset (``huggingface``, online), or several of
these sampled equally (``mixture``, :func:`sample_mixture`). Every dropped row is counted
by reason in the stats written next to the corpus.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mwalign import bible, files, tables
from mwalign.provenance import derive_seed, provenance
from mwalign.text import has_control, normalise

log = logging.getLogger(__name__)

SOURCES = ("bible", "file", "huggingface")  # the sources a mixture may hold
FILE_FORMATS = ("txt", "jsonl", "parquet")
# Suffix of a corpus file -> its format, for corpus.file.format: auto.
FILE_SUFFIXES = {"txt": "txt", "text": "txt", "jsonl": "jsonl", "ndjson": "jsonl",
                 "parquet": "parquet", "pq": "parquet"}  # fmt: skip


def read_bible(settings: dict) -> pd.DataFrame:
    edition = settings["edition"]
    books = tuple(settings["books"])
    frame = bible.read_edition(edition, books)
    return pd.DataFrame({"text": frame["text"], "source": f"bible:{edition}", "ref": frame["ref"]})


def file_format(path: Path, fmt: str, key: str = "corpus.file") -> str:
    """The format of the corpus file ``path``: ``fmt``, or from its suffix when ``auto``."""
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    if suffix in FILE_SUFFIXES:
        return FILE_SUFFIXES[suffix]
    raise ValueError(
        f"{key}.path {str(path)!r}: cannot tell the format from the suffix "
        f"{path.suffix!r} (known suffixes: {', '.join('.' + s for s in FILE_SUFFIXES)}); "
        f"set {key}.format to one of {list(FILE_FORMATS)}"
    )


def _read_text_lines(path: Path, counts: Counter) -> list[str | None]:
    """Lines of ``path`` without their ending; None (counted) where not valid UTF-8."""
    lines: list[str | None] = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle):
            try:
                line = raw.rstrip(b"\r\n").decode("utf-8-sig" if number == 0 else "utf-8")
            except UnicodeDecodeError:
                counts["invalid_utf8"] += 1
                line = None
            lines.append(line)
    return lines


def corpus_sources(corpus: dict) -> list[tuple[str, dict]]:
    """(config key, settings) of every source of the ``corpus`` section: the section itself,
    or each ``corpus.mixture`` entry in sorted-name order. Each settings mapping has
    ``source`` and that source's object (``bible``, ``file`` or ``huggingface``)."""
    if corpus["source"] != "mixture":
        return [("corpus", corpus)]
    mixture = corpus.get("mixture") or {}
    return [(f"corpus.mixture.{name}", mixture[name]) for name in sorted(mixture)]


def lookup(record: dict, column: str, keys_seen: set[str]) -> tuple[bool, object]:
    """(found, value) of ``column`` in ``record``: a key, or where the record has no such
    key, a dotted path (``translation.en``: the key ``en`` of the dict under
    ``translation``). The keys met on the way are added to ``keys_seen``, dotted where
    nested, for the message naming them when no record has ``column``."""
    keys_seen.update(record)
    if column in record or "." not in column:
        return column in record, record.get(column)
    value: object = record
    prefix = ""
    for part in column.split("."):
        if not isinstance(value, dict):
            return False, None
        if prefix:
            keys_seen.update(prefix + str(key) for key in value)
        if part not in value:
            return False, None
        value, prefix = value[part], f"{prefix}{part}."
    keys_seen.add(column)
    return True, value


def _jsonl_value(record: object, column: str, counts: Counter, keys_seen: set[str]) -> str | None:
    """The text of one JSONL record; None (counted) when it has none."""
    if not isinstance(record, dict):
        counts["invalid_json"] += 1  # a JSON value that is not an object
        return None
    found, value = lookup(record, column, keys_seen)
    if not found:
        counts["missing_text"] += 1
        return None
    return _text_or_none(value, counts)


def _text_or_none(value: object, counts: Counter) -> str | None:
    """``value`` if it is a string; None (counted as missing_text or not_text) otherwise."""
    if isinstance(value, str):
        return value
    counts["missing_text" if value is None else "not_text"] += 1
    return None


def _read_jsonl(
    path: Path, column: str, counts: Counter, key: str = "corpus.file"
) -> list[str | None]:
    """Texts of ``column`` (a key, or a dotted path into dict values) per line; an error
    when no record has it at all."""
    texts: list[str | None] = []
    keys_seen: set[str] = set()
    for line in _read_text_lines(path, counts):
        if line is None or not line.strip():
            texts.append(None if line is None else "")
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            counts["invalid_json"] += 1
            texts.append(None)
            continue
        texts.append(_jsonl_value(record, column, counts, keys_seen))
    if keys_seen and column not in keys_seen:
        raise ValueError(
            f"{path}: no record has the text column {column!r} (set {key}.text_column); "
            f"keys: {sorted(keys_seen)}"
        )
    return texts


def _read_parquet(
    path: Path, column: str, counts: Counter, key: str = "corpus.file"
) -> list[str | None]:
    try:
        table = files.read_table(path)
    except files.StageInputError as err:
        raise ValueError(f"{key}.path {str(path)!r}: {err}") from None
    if column not in table.column_names:
        raise ValueError(
            f"{path}: no text column {column!r} (set {key}.text_column); "
            f"columns: {table.column_names}"
        )
    kind = table.schema.field(column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise ValueError(
            f"{path}: text column {column!r} has type {kind}; allowed: string "
            f"(set {key}.text_column to the column holding the sentences)"
        )
    return [_text_or_none(value, counts) for value in table.column(column).to_pylist()]


def read_file(settings: dict, counts: Counter, key: str = "corpus.file") -> pd.DataFrame:
    path = Path(settings["path"])
    if not path.is_file():
        raise ValueError(f"{key}.path {str(path)!r} is not a file")
    fmt = file_format(path, settings["format"], key)
    column = settings["text_column"]
    if fmt == "txt":
        texts = _read_text_lines(path, counts)
    elif fmt == "jsonl":
        texts = _read_jsonl(path, column, counts, key)
    else:
        texts = _read_parquet(path, column, counts, key)
    refs = [str(number) for number in range(1, len(texts) + 1)]
    return pd.DataFrame({"text": texts, "source": f"file:{path.name}", "ref": refs})


def read_huggingface(
    settings: dict, counts: Counter, key: str = "corpus.huggingface"
) -> pd.DataFrame:
    from mwalign.hub import hub_dataset_reason

    name, column = settings["name"], settings["text_column"]
    reason = hub_dataset_reason(name, key=f"{key}.name")
    if reason is not None:
        raise ValueError(reason)
    import datasets  # heavy; only needed online

    try:
        data = datasets.load_dataset(name, settings["config"], split=settings["split"])
    except ConnectionError as err:
        raise ValueError(
            f"{key}.name {name!r}: the Hugging Face hub stopped answering ({err}); "
            "rerun where it is reachable"
        ) from err
    texts = hub_texts(data, column, counts, name=name, key=key)
    refs = [str(index) for index in range(len(texts))]
    return pd.DataFrame({"text": texts, "source": f"hf:{name}", "ref": refs})


def hub_texts(data, column: str, counts: Counter, *, name: str, key: str) -> list[str | None]:
    """Texts of ``column`` of a loaded dataset (anything with ``column_names`` and columns
    by name): a column, or a dotted path ``translation.en`` into a dict column; rows
    without the key are None, counted as missing_text."""
    head = column.split(".", 1)[0]
    if column in data.column_names:
        return [_text_or_none(value, counts) for value in data[column]]
    if "." not in column or head not in data.column_names:
        raise ValueError(
            f"Hugging Face dataset {name!r} has no column {column!r} "
            f"(set {key}.text_column, a column or a dotted path into a dict column such as "
            f"translation.en); columns: {data.column_names}"
        )
    texts: list[str | None] = []
    keys_seen: set[str] = set()
    for value in data[head]:
        found, text = lookup({head: value}, column, keys_seen)
        if not found:
            counts["missing_text"] += 1
            texts.append(None)
        else:
            texts.append(_text_or_none(text, counts))
    if texts and column not in keys_seen:
        raise ValueError(
            f"Hugging Face dataset {name!r}: no row has {column!r} (set {key}.text_column); "
            f"keys: {sorted(keys_seen)}"
        )
    return texts


def read_corpus(settings: dict, counts: Counter, key: str = "corpus") -> pd.DataFrame:
    """Raw rows of one source (the ``corpus`` section, or a ``corpus.mixture`` entry whose
    config key is ``key``): columns text (str, or None counted in ``counts``), source, ref."""
    source = settings["source"]
    if source == "bible":
        return read_bible(settings["bible"])
    if source == "file":
        return read_file(settings["file"], counts, f"{key}.file")
    if source == "huggingface":
        return read_huggingface(settings["huggingface"], counts, f"{key}.huggingface")
    raise ValueError(f"unknown {key}.source {source!r}; allowed: {list(SOURCES)}")


def clean(
    frame: pd.DataFrame, min_chars: int, max_chars: int, counts: Counter, changed: Counter
) -> pd.DataFrame:
    """Normalise texts; drop missing, empty, too short/long and duplicate rows.

    Every dropped row is counted by reason in ``counts`` (readers count the rows they
    could not read, left as None); rows that normalisation changed are counted in
    ``changed`` (control_characters) and kept.
    """
    frame = frame[frame["text"].map(lambda value: isinstance(value, str)).astype(bool)].copy()
    changed["control_characters"] += int(frame["text"].map(has_control).sum())
    frame["text"] = frame["text"].map(normalise).astype("string")
    masks = {
        "empty": frame["text"].str.len() == 0,
        "too_short": frame["text"].str.len().between(1, min_chars - 1),
        "too_long": frame["text"].str.len() > max_chars,
    }
    keep = pd.Series(True, index=frame.index)
    for reason, mask in masks.items():
        counts[reason] += int((mask & keep).sum())
        keep &= ~mask
    frame = frame[keep]
    duplicated = frame["text"].duplicated(keep="first")
    counts["duplicates"] += int(duplicated.sum())
    return frame[~duplicated].reset_index(drop=True)


def take_sample(frame: pd.DataFrame, size: int, if_smaller: str, seed: int) -> pd.DataFrame:
    """A seeded sample of ``size`` rows; ids 0..n-1 in sampled order."""
    if len(frame) < size:
        if if_smaller != "take_all":
            raise ValueError(
                f"corpus.size is {size} but only {len(frame)} sentences remain after filtering; "
                "lower corpus.size or set corpus.if_smaller: take_all"
            )
        log.warning(
            "corpus has %d usable sentences < corpus.size %d: taking all of them "
            "(corpus.if_smaller: take_all)",
            len(frame),
            size,
        )
        size = len(frame)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(frame), size=size, replace=False)
    sample = frame.iloc[chosen].reset_index(drop=True)
    sample.insert(0, "id", np.arange(len(sample), dtype=np.int64))
    return sample


def sample_corpus(
    *, settings: dict, seed: int, out_path: str | Path, stats_path: str | Path
) -> dict:
    """Run the stage: write the corpus Parquet and its stats; return the stats.

    ``settings`` is the validated ``corpus`` section of the config. The stats count every
    row read: ``rows_read == sum(dropped.values()) + usable``.
    """
    if settings["source"] == "mixture":
        return sample_mixture(
            settings=settings, seed=seed, out_path=out_path, stats_path=stats_path
        )
    counts: Counter = Counter()
    changed: Counter = Counter()
    raw = read_corpus(settings, counts)
    cleaned = clean(raw, settings["min_chars"], settings["max_chars"], counts, changed)
    dropped = {reason: counts[reason] for reason in sorted(counts)}
    if cleaned.empty:
        raise ValueError(
            f"the corpus has no usable sentences: {len(raw)} rows read, dropped {dropped}; "
            "check corpus.source, the corpus file and corpus.min_chars/max_chars"
        )
    job_seed = derive_seed(seed, "sample")
    sample = take_sample(cleaned, settings["size"], settings["if_smaller"], job_seed)
    files.write_table(pa.Table.from_pandas(sample, preserve_index=False), out_path, tables.CORPUS)
    stats = {
        "rows_read": len(raw),
        "dropped": dropped,
        "normalised": {reason: changed[reason] for reason in sorted(changed)},
        "usable": len(cleaned),
        "sampled": len(sample),
        "requested": settings["size"],
        "took_all": len(sample) < settings["size"],
        "provenance": provenance("sample", settings, job_seed),
    }
    files.write_json(stats, stats_path)
    log.info("sampled %d of %d usable sentences (%d read)", len(sample), len(cleaned), len(raw))
    return stats


def shares(size: int, names: list[str]) -> dict[str, int]:
    """Each source's share of ``size``: ``size // n``, the remainder one each to the first
    names in sorted order."""
    ordered = sorted(names)
    base, extra = divmod(size, len(ordered))
    return {name: base + (index < extra) for index, name in enumerate(ordered)}


def _draw(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """``size`` rows of ``frame`` chosen with ``seed`` (without replacement)."""
    chosen = np.random.default_rng(seed).choice(len(frame), size=size, replace=False)
    return frame.iloc[chosen].reset_index(drop=True)


def sample_mixture(
    *, settings: dict, seed: int, out_path: str | Path, stats_path: str | Path
) -> dict:
    """The stage for ``corpus.source: mixture``: an equal share of ``corpus.size`` from each
    source of ``corpus.mixture``.

    Sources are taken in sorted-name order, so the order they are written in changes
    nothing. Each is read and cleaned on its own (:func:`clean`); a sentence already kept
    by an earlier source is then dropped from the later one (counted as ``duplicates``
    there). Each source's share is drawn with ``derive_seed(seed, "sample", name)``; the
    drawn rows are shuffled together with ``derive_seed(seed, "sample")`` and numbered
    0..n-1, and their ``source`` column is ``"{name}:{source}"`` (e.g.
    ``"europarl:hf:Helsinki-NLP/europarl"``). The stats hold the totals (as for one
    source) and a ``sources`` block per source; ``rows_read == sum(dropped) + usable`` holds
    for both.
    """
    mixture = settings["mixture"]
    names = sorted(mixture)
    ordered = {name: mixture[name] for name in names}
    share = shares(settings["size"], names)
    seen: set[str] = set()
    counts: Counter = Counter()
    changed: Counter = Counter()
    parts: list[pd.DataFrame] = []
    per_source: dict[str, dict] = {}
    for name in names:
        key = f"corpus.mixture.{name}"
        own: Counter = Counter()
        raw = read_corpus(mixture[name], own, key)
        cleaned = clean(raw, settings["min_chars"], settings["max_chars"], own, changed)
        repeated = cleaned["text"].isin(seen).to_numpy()
        own["duplicates"] += int(repeated.sum())
        cleaned = cleaned[~repeated].reset_index(drop=True)
        seen.update(cleaned["text"])
        dropped = {reason: own[reason] for reason in sorted(own)}
        if cleaned.empty:
            raise ValueError(
                f"{key} has no usable sentences: {len(raw)} rows read, dropped {dropped}; "
                f"check {key}.source, its settings and corpus.min_chars/max_chars"
            )
        take = share[name]
        if len(cleaned) < take:
            if settings["if_smaller"] != "take_all":
                raise ValueError(
                    f"{key} has {len(cleaned)} usable sentences but its share of corpus.size "
                    f"{settings['size']} is {take}; lower corpus.size or set "
                    "corpus.if_smaller: take_all (the corpus is then smaller)"
                )
            log.warning(
                "%s has %d usable sentences < its share %d: taking all of them "
                "(corpus.if_smaller: take_all; the other sources do not make up the rest)",
                key,
                len(cleaned),
                take,
            )
            take = len(cleaned)
        source_seed = derive_seed(seed, "sample", name)
        drawn = _draw(cleaned, take, source_seed)
        drawn["source"] = name + ":" + drawn["source"].astype(str)
        parts.append(drawn)
        counts.update(own)
        per_source[name] = {
            "source": mixture[name]["source"],
            "rows_read": len(raw),
            "dropped": dropped,
            "usable": len(cleaned),
            "share": share[name],
            "sampled": len(drawn),
            "seed": source_seed,
        }
    job_seed = derive_seed(seed, "sample")
    combined = pd.concat(parts, ignore_index=True)
    order = np.random.default_rng(job_seed).permutation(len(combined))
    sample = combined.iloc[order].reset_index(drop=True)
    sample.insert(0, "id", np.arange(len(sample), dtype=np.int64))
    files.write_table(pa.Table.from_pandas(sample, preserve_index=False), out_path, tables.CORPUS)
    stats = {
        "rows_read": sum(block["rows_read"] for block in per_source.values()),
        "dropped": {reason: counts[reason] for reason in sorted(counts)},
        "normalised": {reason: changed[reason] for reason in sorted(changed)},
        "usable": sum(block["usable"] for block in per_source.values()),
        "sampled": len(sample),
        "requested": settings["size"],
        "took_all": len(sample) < settings["size"],
        "sources": per_source,
        "provenance": provenance("sample", {**settings, "mixture": ordered}, job_seed),
    }
    files.write_json(stats, stats_path)
    log.info(
        "sampled %d sentences from %d sources (%s)",
        len(sample),
        len(names),
        ", ".join(f"{name}: {block['sampled']}" for name, block in per_source.items()),
    )
    return stats
