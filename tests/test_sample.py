"""The sample stage on tiny corpora: normalisation, filters counted, seeded sampling."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mwalign import schemas
from mwalign.io import read_table
from mwalign.sample import normalise, sample_corpus


def settings(path, **overrides) -> dict:
    base = {
        "source": "file",
        "file": {"path": str(path), "format": "auto", "text_column": "text"},
        "size": 3,
        "min_chars": 5,
        "max_chars": 60,
        "if_smaller": "error",
    }
    base.update(overrides)
    return base


GOOD = ["The first sentence here.", "A second one, longer.", "Third of them all.", "Fourth line."]


def test_normalise_collapses_space_controls_and_backticks():
    assert normalise("  God`s\tword\x07 here\u200b  ") == "God's word here"


def test_text_file_filters_are_counted(tmp_path):
    lines = [*GOOD, "", "   ", "tiny", "x" * 100_000, GOOD[0], "ctrl\x01char line ok"]
    path = tmp_path / "corpus.txt"
    path.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe broken bytes\n")
    out, stats_path = tmp_path / "en.parquet", tmp_path / "stats.json"
    stats = sample_corpus(settings(path, size=5), 7, out, stats_path)
    assert stats["dropped"]["invalid_utf8"] == 1
    assert stats["dropped"]["empty"] == 2
    assert stats["dropped"]["too_short"] == 1
    assert stats["dropped"]["too_long"] == 1
    assert stats["dropped"]["duplicates"] == 1
    table = read_table(out, schemas.CORPUS)
    texts = table.column("text").to_pylist()
    assert sorted(texts) == sorted([*GOOD, "ctrl char line ok"])
    assert table.column("id").to_pylist() == list(range(5))
    assert json.loads(stats_path.read_text())["sampled"] == 5


def test_sample_is_seeded(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(f"Sentence number {i} is here." for i in range(50)))
    first = sample_corpus(settings(path, size=10), 1, tmp_path / "a.parquet", tmp_path / "a.json")
    sample_corpus(settings(path, size=10), 1, tmp_path / "b.parquet", tmp_path / "b.json")
    sample_corpus(settings(path, size=10), 2, tmp_path / "c.parquet", tmp_path / "c.json")
    assert first["sampled"] == 10
    a, b, c = (pq.read_table(tmp_path / f"{n}.parquet").column("text").to_pylist() for n in "abc")
    assert a == b
    assert a != c
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_too_small_corpus_errors_or_takes_all(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(GOOD))
    with pytest.raises(ValueError, match=r"corpus.size is 10 but only 4 sentences remain"):
        sample_corpus(settings(path, size=10), 1, tmp_path / "a.parquet", tmp_path / "a.json")
    assert not (tmp_path / "a.parquet").exists()
    stats = sample_corpus(
        settings(path, size=10, if_smaller="take_all"),
        1,
        tmp_path / "b.parquet",
        tmp_path / "b.json",
    )
    assert stats["sampled"] == 4


def test_jsonl_and_parquet_need_the_text_column(tmp_path):
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps({"sentence": t}) for t in GOOD))
    with pytest.raises(ValueError, match=r"no text column 'text'"):
        sample_corpus(settings(jsonl), 1, tmp_path / "a.parquet", tmp_path / "a.json")
    stats = sample_corpus(
        settings(jsonl, file={"path": str(jsonl), "format": "auto", "text_column": "sentence"}),
        1,
        tmp_path / "a.parquet",
        tmp_path / "a.json",
    )
    assert stats["sampled"] == 3
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.table({"body": GOOD}), parquet)
    with pytest.raises(ValueError, match=r"no text column 'text'.*columns: \['body'\]"):
        sample_corpus(settings(parquet), 1, tmp_path / "b.parquet", tmp_path / "b.json")


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("")
    with pytest.raises(ValueError, match="only 0 sentences remain"):
        sample_corpus(settings(path), 1, tmp_path / "a.parquet", tmp_path / "a.json")


def test_bible_source_samples_old_testament(tmp_path):
    bible = {"edition": "4", "books": [1, 39]}
    stats = sample_corpus(
        {**settings(None, size=50), "source": "bible", "bible": bible, "max_chars": 400},
        3,
        tmp_path / "en.parquet",
        tmp_path / "stats.json",
    )
    frame = pd.read_parquet(tmp_path / "en.parquet")
    assert stats["sampled"] == 50
    assert set(frame["source"]) == {"bible:4"}
    assert frame["ref"].map(lambda ref: int(ref.split(":")[0])).between(1, 39).all()
