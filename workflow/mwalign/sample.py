"""Stage `sample`: read an English corpus, normalise, filter, deduplicate, take a seeded sample.

Sources: the packaged Bible (``bible``), a local file (``file``: .txt one sentence per
line, .jsonl, .parquet), or a Hugging Face dataset (``huggingface``, online). Every
dropped row is counted by reason in the stats written next to the corpus.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mwalign import bible, io, schemas
from mwalign.provenance import derive_seed, provenance

log = logging.getLogger(__name__)

SOURCES = ("bible", "file", "huggingface")
FILE_FORMATS = ("txt", "jsonl", "parquet")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2028\u2029\ufeff]")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFC, control characters removed, whitespace collapsed, backtick apostrophes fixed."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text).replace("`", "'")
    return _SPACE.sub(" ", text).strip()


def read_bible(settings: dict) -> pd.DataFrame:
    edition = settings["edition"]
    books = tuple(settings["books"])
    frame = bible.read_edition(edition, books)
    return pd.DataFrame({"text": frame["text"], "source": f"bible:{edition}", "ref": frame["ref"]})


def _file_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("txt", "text"):
        return "txt"
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix in ("parquet", "pq"):
        return "parquet"
    raise ValueError(
        f"corpus.file.path {str(path)!r}: cannot tell the format from the suffix "
        f"{path.suffix!r}; set corpus.file.format to one of {list(FILE_FORMATS)}"
    )


def _read_text_lines(path: Path, counts: Counter) -> list[str | None]:
    lines: list[str | None] = []
    with open(path, "rb") as handle:
        for raw in handle:
            try:
                lines.append(raw.rstrip(b"\r\n").decode("utf-8"))
            except UnicodeDecodeError:
                counts["invalid_utf8"] += 1
                lines.append(None)
    return lines


def _read_jsonl(path: Path, column: str, counts: Counter) -> list[str | None]:
    texts: list[str | None] = []
    for number, line in enumerate(_read_text_lines(path, counts), start=1):
        if line is None or not line.strip():
            texts.append(None if line is None else "")
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            counts["invalid_json"] += 1
            texts.append(None)
            continue
        if not isinstance(record, dict) or column not in record:
            keys = sorted(record) if isinstance(record, dict) else type(record).__name__
            raise ValueError(
                f"{path}:{number}: record has no text column {column!r} "
                f"(set corpus.file.text_column); keys: {keys}"
            )
        value = record[column]
        texts.append(value if isinstance(value, str) else None)
    return texts


def read_file(settings: dict, counts: Counter) -> pd.DataFrame:
    path = Path(settings["path"])
    if not path.is_file():
        raise ValueError(f"corpus.file.path {str(path)!r} is not a file")
    fmt = _file_format(path, settings.get("format", "auto"))
    column = settings.get("text_column", "text")
    if fmt == "txt":
        texts = _read_text_lines(path, counts)
    elif fmt == "jsonl":
        texts = _read_jsonl(path, column, counts)
    else:
        table = io.read_table(path)
        if column not in table.column_names:
            raise ValueError(
                f"{path}: no text column {column!r} (set corpus.file.text_column); "
                f"columns: {table.column_names}"
            )
        texts = table.column(column).to_pylist()
    refs = [str(number) for number in range(1, len(texts) + 1)]
    return pd.DataFrame({"text": texts, "source": f"file:{path.name}", "ref": refs})


def read_huggingface(settings: dict) -> pd.DataFrame:
    import datasets  # heavy; only needed online

    name, column = settings["name"], settings.get("text_column", "text")
    data = datasets.load_dataset(name, settings.get("config"), split=settings.get("split", "train"))
    if column not in data.column_names:
        raise ValueError(
            f"Hugging Face dataset {name!r} has no column {column!r} "
            f"(set corpus.huggingface.text_column); columns: {data.column_names}"
        )
    texts = data[column]
    refs = [str(index) for index in range(len(texts))]
    return pd.DataFrame({"text": texts, "source": f"hf:{name}", "ref": refs})


def read_corpus(settings: dict, counts: Counter) -> pd.DataFrame:
    """Raw rows of the configured source: columns text (str or None), source, ref."""
    source = settings["source"]
    if source == "bible":
        return read_bible(settings["bible"])
    if source == "file":
        return read_file(settings["file"], counts)
    if source == "huggingface":
        return read_huggingface(settings["huggingface"])
    raise ValueError(f"unknown corpus.source {source!r}; allowed: {list(SOURCES)}")


def clean(frame: pd.DataFrame, min_chars: int, max_chars: int, counts: Counter) -> pd.DataFrame:
    """Normalise texts; drop unreadable, empty, too short/long and duplicate rows, counting each."""
    valid = frame["text"].map(lambda value: isinstance(value, str)).astype(bool)
    counts["unreadable"] += int((~valid & frame["text"].notna()).sum())
    frame = frame[valid].copy()
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
        log.warning("corpus has %d usable sentences < corpus.size %d: taking all", len(frame), size)
        size = len(frame)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(frame), size=size, replace=False)
    sample = frame.iloc[chosen].reset_index(drop=True)
    sample.insert(0, "id", np.arange(len(sample), dtype=np.int64))
    return sample


def sample_corpus(settings: dict, seed: int, out_path: str | Path, stats_path: str | Path) -> dict:
    """Run the stage: write the corpus Parquet and its stats; return the stats."""
    counts: Counter = Counter()
    raw = read_corpus(settings, counts)
    cleaned = clean(raw, settings["min_chars"], settings["max_chars"], counts)
    job_seed = derive_seed(seed, "sample")
    sample = take_sample(cleaned, settings["size"], settings["if_smaller"], job_seed)
    io.write_table(pa.Table.from_pandas(sample, preserve_index=False), out_path, schemas.CORPUS)
    stats = {
        "rows_read": len(raw),
        "dropped": {reason: counts[reason] for reason in sorted(counts)},
        "usable": len(cleaned),
        "sampled": len(sample),
        "requested": settings["size"],
        "provenance": provenance("sample", settings, job_seed),
    }
    io.write_json(stats, stats_path)
    log.info("sampled %d of %d usable sentences (%d read)", len(sample), len(cleaned), len(raw))
    return stats
