"""The sample stage on tiny corpora: normalisation, filters counted, seeded sampling."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mwalign import tables
from mwalign.files import read_table
from mwalign.sample.corpus import normalise, sample_corpus


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
    stats = sample_corpus(
        settings=settings(path, size=5), seed=7, out_path=out, stats_path=stats_path
    )
    assert stats["dropped"]["invalid_utf8"] == 1
    assert stats["dropped"]["empty"] == 2
    assert stats["dropped"]["too_short"] == 1
    assert stats["dropped"]["too_long"] == 1
    assert stats["dropped"]["duplicates"] == 1
    table = read_table(out, tables.CORPUS)
    texts = table.column("text").to_pylist()
    assert sorted(texts) == sorted([*GOOD, "ctrl char line ok"])
    assert table.column("id").to_pylist() == list(range(5))
    assert json.loads(stats_path.read_text())["sampled"] == 5
    assert stats["normalised"]["control_characters"] == 1
    assert stats["rows_read"] == sum(stats["dropped"].values()) + stats["usable"]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty-lines.txt", b"\n\n\n", "empty"),
        ("whitespace.txt", b"   \n\t\t\n \xc2\xa0 \n", "empty"),
        (
            "latin1.txt",
            "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e.\n".encode("latin-1") * 3,
            "invalid_utf8",
        ),
        ("long.txt", b"x" * 100_000 + b"\n", "too_long"),
        ("controls.txt", b"\x00\x01\x02\x1b\x7f\n", "empty"),
        ("nulls.jsonl", b'{"text": null}\n{"text": 5}\n{"other": "x"}\n', "missing_text"),
        ("broken.jsonl", b'{"text": "ok sentence here"\n[1, 2]\n', "invalid_json"),
    ],
)
def test_every_bad_row_is_counted(tmp_path, name, data, reason):
    """Unusable rows are dropped, each counted by reason: rows read = dropped + usable."""
    path = tmp_path / name
    if name.endswith(".jsonl"):
        good = b"".join(json.dumps({"text": t}).encode() + b"\n" for t in GOOD)
    else:
        good = "\n".join(GOOD).encode() + b"\n"
    path.write_bytes(good + data)
    out = tmp_path / "en.parquet"
    stats = sample_corpus(
        settings=settings(path, size=len(GOOD)),
        seed=1,
        out_path=out,
        stats_path=tmp_path / "stats.json",
    )
    assert stats["dropped"][reason] >= 1
    assert stats["rows_read"] == sum(stats["dropped"].values()) + stats["usable"]
    assert stats["usable"] == len(GOOD) and stats["sampled"] == len(GOOD)
    assert sorted(read_table(out).column("text").to_pylist()) == sorted(GOOD)


def test_utf8_byte_order_mark_is_not_a_bad_row(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + b"".join(json.dumps({"text": t}).encode() + b"\n" for t in GOOD)
    )
    stats = sample_corpus(
        settings=settings(path, size=4),
        seed=1,
        out_path=tmp_path / "a.parquet",
        stats_path=tmp_path / "a.json",
    )
    assert stats["dropped"].get("invalid_json", 0) == 0 and stats["usable"] == 4


def test_sample_is_seeded(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(f"Sentence number {i} is here." for i in range(50)))
    first = sample_corpus(
        settings=settings(path, size=10),
        seed=1,
        out_path=tmp_path / "a.parquet",
        stats_path=tmp_path / "a.json",
    )
    sample_corpus(
        settings=settings(path, size=10),
        seed=1,
        out_path=tmp_path / "b.parquet",
        stats_path=tmp_path / "b.json",
    )
    sample_corpus(
        settings=settings(path, size=10),
        seed=2,
        out_path=tmp_path / "c.parquet",
        stats_path=tmp_path / "c.json",
    )
    assert first["sampled"] == 10
    a, b, c = (pq.read_table(tmp_path / f"{n}.parquet").column("text").to_pylist() for n in "abc")
    assert a == b
    assert a != c
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_too_small_corpus_errors_or_takes_all(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(GOOD))
    with pytest.raises(ValueError, match=r"corpus.size is 10 but only 4 sentences remain"):
        sample_corpus(
            settings=settings(path, size=10),
            seed=1,
            out_path=tmp_path / "a.parquet",
            stats_path=tmp_path / "a.json",
        )
    assert not (tmp_path / "a.parquet").exists()
    stats = sample_corpus(
        settings=settings(path, size=10, if_smaller="take_all"),
        seed=1,
        out_path=tmp_path / "b.parquet",
        stats_path=tmp_path / "b.json",
    )
    assert stats["sampled"] == 4
    assert stats["took_all"] is True and stats["requested"] == 10
    assert json.loads((tmp_path / "b.json").read_text())["took_all"] is True


def test_jsonl_and_parquet_need_the_text_column(tmp_path):
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps({"sentence": t}) for t in GOOD))
    with pytest.raises(ValueError, match=r"no record has the text column 'text'.*\['sentence'\]"):
        sample_corpus(
            settings=settings(jsonl),
            seed=1,
            out_path=tmp_path / "a.parquet",
            stats_path=tmp_path / "a.json",
        )
    stats = sample_corpus(
        settings=settings(
            jsonl, file={"path": str(jsonl), "format": "auto", "text_column": "sentence"}
        ),
        seed=1,
        out_path=tmp_path / "a.parquet",
        stats_path=tmp_path / "a.json",
    )
    assert stats["sampled"] == 3
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.table({"body": GOOD}), parquet)
    with pytest.raises(ValueError, match=r"no text column 'text'.*columns: \['body'\]"):
        sample_corpus(
            settings=settings(parquet),
            seed=1,
            out_path=tmp_path / "b.parquet",
            stats_path=tmp_path / "b.json",
        )


def test_jsonl_records_missing_the_column_are_counted_not_fatal(tmp_path):
    jsonl = tmp_path / "c.jsonl"
    records = [{"text": t} for t in GOOD] + [{"title": "no text here"}]
    jsonl.write_text("\n".join(json.dumps(r) for r in records))
    stats = sample_corpus(
        settings=settings(jsonl, size=4),
        seed=1,
        out_path=tmp_path / "a.parquet",
        stats_path=tmp_path / "a.json",
    )
    assert stats["dropped"]["missing_text"] == 1 and stats["usable"] == 4


def test_parquet_text_column_must_hold_strings_and_nulls_are_counted(tmp_path):
    numbers = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"text": [1, 2, 3]}), numbers)
    with pytest.raises(ValueError, match=r"text column 'text' has type int64; allowed: string"):
        sample_corpus(
            settings=settings(numbers),
            seed=1,
            out_path=tmp_path / "a.parquet",
            stats_path=tmp_path / "a.json",
        )
    with_nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"text": [*GOOD, None]}), with_nulls)
    stats = sample_corpus(
        settings=settings(with_nulls, size=4),
        seed=1,
        out_path=tmp_path / "b.parquet",
        stats_path=tmp_path / "b.json",
    )
    assert stats["dropped"]["missing_text"] == 1 and stats["usable"] == 4


def test_unreadable_parquet_corpus_names_the_config_key(tmp_path):
    broken = tmp_path / "broken.parquet"
    pq.write_table(pa.table({"text": GOOD}), broken)
    broken.write_bytes(broken.read_bytes()[:50])
    with pytest.raises(ValueError, match=r"corpus.file.path '.*broken.parquet'.*not a readable"):
        sample_corpus(
            settings=settings(broken),
            seed=1,
            out_path=tmp_path / "a.parquet",
            stats_path=tmp_path / "a.json",
        )


@pytest.mark.parametrize("if_smaller", ["error", "take_all"])
@pytest.mark.parametrize(("name", "data"), [("empty.txt", b""), ("blank.txt", b"\n \n\t\n")])
def test_empty_corpus_is_a_clear_error_even_with_take_all(tmp_path, name, data, if_smaller):
    path = tmp_path / name
    path.write_bytes(data)
    out = tmp_path / "a.parquet"
    with pytest.raises(ValueError, match=r"the corpus has no usable sentences: \d rows read"):
        sample_corpus(
            settings=settings(path, if_smaller=if_smaller),
            seed=1,
            out_path=out,
            stats_path=tmp_path / "a.json",
        )
    assert not out.exists()


def test_a_failed_run_keeps_the_previous_output(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(GOOD))
    out, stats_path = tmp_path / "en.parquet", tmp_path / "stats.json"
    sample_corpus(settings=settings(path), seed=1, out_path=out, stats_path=stats_path)
    before = out.read_bytes(), stats_path.read_bytes()
    path.write_text("")
    with pytest.raises(ValueError, match="no usable sentences"):
        sample_corpus(settings=settings(path), seed=1, out_path=out, stats_path=stats_path)
    assert (out.read_bytes(), stats_path.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "en.parquet", "stats.json"]


def test_bible_source_samples_old_testament(tmp_path):
    bible = {"edition": "4", "books": [1, 39]}
    stats = sample_corpus(
        settings={**settings(None, size=50), "source": "bible", "bible": bible, "max_chars": 400},
        seed=3,
        out_path=tmp_path / "en.parquet",
        stats_path=tmp_path / "stats.json",
    )
    frame = pd.read_parquet(tmp_path / "en.parquet")
    assert stats["sampled"] == 50
    assert set(frame["source"]) == {"bible:4"}
    assert frame["ref"].map(lambda ref: int(ref.split(":")[0])).between(1, 39).all()
