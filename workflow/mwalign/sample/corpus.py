"""Stage `sample`: read an English corpus, normalise, filter, deduplicate, take a seeded sample.

Sources: the packaged Bible (``bible``), a local file (``file``: .txt one sentence per
line, .jsonl, .parquet), or a Hugging Face dataset (``huggingface``, online). Every
dropped row is counted by reason in the stats written next to the corpus.
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

SOURCES = ("bible", "file", "huggingface")
FILE_FORMATS = ("txt", "jsonl", "parquet")
# Suffix of a corpus file -> its format, for corpus.file.format: auto.
FILE_SUFFIXES = {"txt": "txt", "text": "txt", "jsonl": "jsonl", "ndjson": "jsonl",
                 "parquet": "parquet", "pq": "parquet"}  # fmt: skip


def read_bible(settings: dict) -> pd.DataFrame:
    edition = settings["edition"]
    books = tuple(settings["books"])
    frame = bible.read_edition(edition, books)
    return pd.DataFrame({"text": frame["text"], "source": f"bible:{edition}", "ref": frame["ref"]})


def file_format(path: Path, fmt: str) -> str:
    """The format of the corpus file ``path``: ``fmt``, or from its suffix when ``auto``."""
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    if suffix in FILE_SUFFIXES:
        return FILE_SUFFIXES[suffix]
    raise ValueError(
        f"corpus.file.path {str(path)!r}: cannot tell the format from the suffix "
        f"{path.suffix!r} (known suffixes: {', '.join('.' + s for s in FILE_SUFFIXES)}); "
        f"set corpus.file.format to one of {list(FILE_FORMATS)}"
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


def _jsonl_value(record: object, column: str, counts: Counter) -> str | None:
    """The text of one JSONL record; None (counted) when it has none."""
    if not isinstance(record, dict):
        counts["invalid_json"] += 1  # a JSON value that is not an object
        return None
    if column not in record:
        counts["missing_text"] += 1
        return None
    return _text_or_none(record[column], counts)


def _text_or_none(value: object, counts: Counter) -> str | None:
    """``value`` if it is a string; None (counted as missing_text or not_text) otherwise."""
    if isinstance(value, str):
        return value
    counts["missing_text" if value is None else "not_text"] += 1
    return None


def _read_jsonl(path: Path, column: str, counts: Counter) -> list[str | None]:
    """Texts of ``column`` per line; an error when no record has that key at all."""
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
        if isinstance(record, dict):
            keys_seen.update(record)
        texts.append(_jsonl_value(record, column, counts))
    if keys_seen and column not in keys_seen:
        raise ValueError(
            f"{path}: no record has the text column {column!r} (set corpus.file.text_column); "
            f"keys: {sorted(keys_seen)}"
        )
    return texts


def _read_parquet(path: Path, column: str, counts: Counter) -> list[str | None]:
    try:
        table = files.read_table(path)
    except files.StageInputError as err:
        raise ValueError(f"corpus.file.path {str(path)!r}: {err}") from None
    if column not in table.column_names:
        raise ValueError(
            f"{path}: no text column {column!r} (set corpus.file.text_column); "
            f"columns: {table.column_names}"
        )
    kind = table.schema.field(column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise ValueError(
            f"{path}: text column {column!r} has type {kind}; allowed: string "
            "(set corpus.file.text_column to the column holding the sentences)"
        )
    return [_text_or_none(value, counts) for value in table.column(column).to_pylist()]


def read_file(settings: dict, counts: Counter) -> pd.DataFrame:
    path = Path(settings["path"])
    if not path.is_file():
        raise ValueError(f"corpus.file.path {str(path)!r} is not a file")
    fmt = file_format(path, settings["format"])
    column = settings["text_column"]
    if fmt == "txt":
        texts = _read_text_lines(path, counts)
    elif fmt == "jsonl":
        texts = _read_jsonl(path, column, counts)
    else:
        texts = _read_parquet(path, column, counts)
    refs = [str(number) for number in range(1, len(texts) + 1)]
    return pd.DataFrame({"text": texts, "source": f"file:{path.name}", "ref": refs})


def read_huggingface(settings: dict, counts: Counter) -> pd.DataFrame:
    from mwalign.hub import hub_dataset_reason

    name, column = settings["name"], settings["text_column"]
    reason = hub_dataset_reason(name, key="corpus.huggingface.name")
    if reason is not None:
        raise ValueError(reason)
    import datasets  # heavy; only needed online

    try:
        data = datasets.load_dataset(name, settings["config"], split=settings["split"])
    except ConnectionError as err:
        raise ValueError(
            f"corpus.huggingface.name {name!r}: the Hugging Face hub stopped answering ({err}); "
            "rerun where it is reachable"
        ) from err
    if column not in data.column_names:
        raise ValueError(
            f"Hugging Face dataset {name!r} has no column {column!r} "
            f"(set corpus.huggingface.text_column); columns: {data.column_names}"
        )
    texts = [_text_or_none(value, counts) for value in data[column]]
    refs = [str(index) for index in range(len(texts))]
    return pd.DataFrame({"text": texts, "source": f"hf:{name}", "ref": refs})


def read_corpus(settings: dict, counts: Counter) -> pd.DataFrame:
    """Raw rows of the configured source: columns text (str, or None counted in ``counts``),
    source, ref."""
    source = settings["source"]
    if source == "bible":
        return read_bible(settings["bible"])
    if source == "file":
        return read_file(settings["file"], counts)
    if source == "huggingface":
        return read_huggingface(settings["huggingface"], counts)
    raise ValueError(f"unknown corpus.source {source!r}; allowed: {list(SOURCES)}")


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
