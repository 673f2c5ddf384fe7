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


# corpus.source: mixture, on three tiny sources: a .txt file, a .jsonl file with the text
# in a dict column (as OPUS datasets on the hub store pairs) and a second .txt file.
ALPHA = [f"Alpha source sentence number {i}." for i in range(10)]
BETA = [f"Beta source sentence number {i}." for i in range(8)]
GAMMA = [f"Gamma source sentence number {i}." for i in range(6)]
SHARED = "A sentence that two sources share."


def mixture_sources(tmp_path) -> dict:
    """Sources alpha (txt), beta (jsonl, translation.en), gamma (txt); SHARED in alpha and
    gamma, and twice in gamma."""
    alpha = tmp_path / "alpha.txt"
    alpha.write_text("\n".join([*ALPHA, SHARED, "short"]) + "\n")
    beta = tmp_path / "beta.jsonl"
    rows = [{"translation": {"de": f"Satz {i}.", "en": text}} for i, text in enumerate(BETA)]
    rows.append({"translation": {"de": "Nur Deutsch hier."}})  # no English: missing_text
    beta.write_text("".join(json.dumps(row) + "\n" for row in rows))
    gamma = tmp_path / "gamma.txt"
    gamma.write_text("\n".join([SHARED, *GAMMA, SHARED]) + "\n")
    return {
        "alpha": {"source": "file", "file": {"path": str(alpha), "format": "auto"}},
        "beta": {
            "source": "file",
            "file": {"path": str(beta), "format": "auto", "text_column": "translation.en"},
        },
        "gamma": {"source": "file", "file": {"path": str(gamma), "format": "auto"}},
    }


def nonzero(counts: dict) -> dict:
    return {reason: count for reason, count in counts.items() if count}


def mixture_settings(sources: dict, **overrides) -> dict:
    """The corpus section as validation fills it, for ``sources`` (source: mixture)."""
    from conftest import make_config

    corpus = {"source": "mixture", "mixture": sources, "size": 10, "min_chars": 10}
    corpus.update(overrides)
    return make_config({"corpus": corpus, "translate": {"backend": "transformers"}})["corpus"]


def run_mixture(tmp_path, corpus: dict, name: str = "m", seed: int = 5) -> dict:
    return sample_corpus(
        settings=corpus,
        seed=seed,
        out_path=tmp_path / f"{name}.parquet",
        stats_path=tmp_path / f"{name}.json",
    )


def test_mixture_gives_equal_shares_remainder_to_the_first_names(tmp_path):
    """size 10 from 3 sources: 4 (alpha), 3 (beta), 3 (gamma); rows interleaved, ids 0..9."""
    from mwalign.sample.corpus import shares

    assert shares(10, ["gamma", "alpha", "beta"]) == {"alpha": 4, "beta": 3, "gamma": 3}
    assert shares(76000, ["a", "b", "c"]) == {"a": 25334, "b": 25333, "c": 25333}
    stats = run_mixture(tmp_path, mixture_settings(mixture_sources(tmp_path)))
    table = read_table(tmp_path / "m.parquet", tables.CORPUS).to_pandas()
    assert table["id"].tolist() == list(range(10))
    names = table["source"].str.split(":").str[0]
    assert names.value_counts().to_dict() == {"alpha": 4, "beta": 3, "gamma": 3}
    assert set(table["source"]) == {"alpha:file:alpha.txt", "beta:file:beta.jsonl",
                                    "gamma:file:gamma.txt"}  # fmt: skip
    assert names.tolist() != sorted(names)  # shuffled together, not one source after another
    assert set(table.loc[names == "beta", "text"]) <= set(BETA)  # translation.en, not .de
    assert {name: block["share"] for name, block in stats["sources"].items()} == {
        "alpha": 4,
        "beta": 3,
        "gamma": 3,
    }
    assert stats["sampled"] == 10 and stats["requested"] == 10 and not stats["took_all"]


def test_mixture_stats_count_every_row_per_source_and_cross_source_duplicates(tmp_path):
    stats = run_mixture(tmp_path, mixture_settings(mixture_sources(tmp_path)))
    alpha, beta, gamma = (stats["sources"][name] for name in ("alpha", "beta", "gamma"))
    assert alpha["rows_read"] == 12 and nonzero(alpha["dropped"]) == {"too_short": 1}
    assert alpha["usable"] == 11  # SHARED kept in alpha, the first source by name
    assert beta["rows_read"] == 9 and nonzero(beta["dropped"]) == {"missing_text": 1}
    # gamma: SHARED twice, once a duplicate within gamma, once a duplicate of alpha's
    assert gamma["rows_read"] == 8 and nonzero(gamma["dropped"]) == {"duplicates": 2}
    assert gamma["usable"] == len(GAMMA)
    for block in (alpha, beta, gamma):
        assert block["rows_read"] == sum(block["dropped"].values()) + block["usable"]
    assert stats["rows_read"] == sum(stats["dropped"].values()) + stats["usable"]
    assert nonzero(stats["dropped"]) == {"duplicates": 2, "missing_text": 1, "too_short": 1}
    assert stats["usable"] == 11 + 8 + 6
    assert json.loads((tmp_path / "m.json").read_text())["sources"]["gamma"] == gamma
    from mwalign.provenance import derive_seed

    assert gamma["seed"] == derive_seed(5, "sample", "gamma")


def test_mixture_order_as_written_changes_nothing(tmp_path):
    sources = mixture_sources(tmp_path)
    run_mixture(tmp_path, mixture_settings(sources), "a")
    reordered = {name: sources[name] for name in ("gamma", "alpha", "beta")}
    run_mixture(tmp_path, mixture_settings(reordered), "b")
    run_mixture(tmp_path, mixture_settings(sources), "c", seed=6)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    assert (tmp_path / "a.parquet").read_bytes() != (tmp_path / "c.parquet").read_bytes()


def test_mixture_source_smaller_than_its_share_errors_or_takes_all(tmp_path):
    sources = mixture_sources(tmp_path)
    # size 24: shares 8 each; gamma has 6 usable sentences (its SHARED is alpha's)
    message = (
        r"corpus.mixture.gamma has 6 usable sentences but its share of corpus.size 24 is 8; "
        r"lower corpus.size or set corpus.if_smaller: take_all"
    )
    with pytest.raises(ValueError, match=message):
        run_mixture(tmp_path, mixture_settings(sources, size=24))
    assert not (tmp_path / "m.parquet").exists()
    stats = run_mixture(tmp_path, mixture_settings(sources, size=24, if_smaller="take_all"))
    assert {name: block["sampled"] for name, block in stats["sources"].items()} == {
        "alpha": 8,
        "beta": 8,
        "gamma": 6,
    }
    assert stats["sampled"] == 22 and stats["took_all"] is True  # no redistribution
    assert len(read_table(tmp_path / "m.parquet")) == 22


def test_mixture_share_checked_at_parse_time_against_file_rows(tmp_path):
    from mwalign.config import ConfigError
    from mwalign.sample.checks import check_corpus_size

    corpus = mixture_settings(mixture_sources(tmp_path), size=30)
    message = (
        r"config.corpus.mixture.beta's share of corpus.size is 10, but "
        r"corpus.mixture.beta has only 9 rows in .*beta.jsonl; allowed: at most 9"
    )
    with pytest.raises(ConfigError, match=message):
        check_corpus_size({"corpus": corpus}, cache_dir=tmp_path)
    corpus["if_smaller"] = "take_all"
    assert check_corpus_size({"corpus": corpus}, cache_dir=tmp_path) == 10 + 9 + 8


def test_dotted_text_column_reads_a_key_of_a_dict_column(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"translation": {"de": "Ein deutscher Satz.", "en": text}} for text in GOOD]
    rows += [{"translation": {"de": "Nur Deutsch."}}, {"translation": "not a dict"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    corpus = settings(path, size=4)
    corpus["file"]["text_column"] = "translation.en"
    stats = sample_corpus(
        settings=corpus, seed=1, out_path=tmp_path / "a.parquet", stats_path=tmp_path / "a.json"
    )
    assert nonzero(stats["dropped"]) == {"missing_text": 2}
    assert sorted(read_table(tmp_path / "a.parquet").column("text").to_pylist()) == sorted(GOOD)
    corpus["file"]["text_column"] = "translation.fr"
    message = (
        r"no record has the text column 'translation.fr' .*"
        r"keys: \['translation', 'translation.de', 'translation.en'\]"
    )
    with pytest.raises(ValueError, match=message):
        sample_corpus(
            settings=corpus, seed=1, out_path=tmp_path / "b.parquet", stats_path=tmp_path / "b.json"
        )


def test_dotted_text_column_of_a_hub_dataset():
    """The same path into a loaded dataset's dict column (a stand-in with columns by name)."""
    from collections import Counter

    from mwalign.sample.corpus import hub_texts

    class Data:
        column_names = ["id", "translation", "plain"]

        def __getitem__(self, column):
            return {
                "id": ["0", "1", "2"],
                "translation": [
                    {"de": "a", "en": "One."},
                    {"de": "b"},
                    {"de": "c", "en": "Three."},
                ],
                "plain": ["x", "y", None],
            }[column]

    counts: Counter = Counter()
    texts = hub_texts(Data(), "translation.en", counts, name="o/d", key="corpus.huggingface")
    assert texts == ["One.", None, "Three."] and counts == {"missing_text": 1}
    assert hub_texts(Data(), "plain", Counter(), name="o/d", key="k") == ["x", "y", None]
    with pytest.raises(ValueError, match=r"no row has 'translation.fr'.*'translation.de'"):
        hub_texts(Data(), "translation.fr", Counter(), name="o/d", key="corpus.huggingface")
    with pytest.raises(ValueError, match=r"has no column 'text'.*columns: \['id'"):
        hub_texts(Data(), "text", Counter(), name="o/d", key="corpus.huggingface")


def test_default_single_source_config_has_no_mixture_key():
    """The default corpus section (and so the sample job's params and stats) is as before."""
    from conftest import make_config

    corpus = make_config()["corpus"]
    assert "mixture" not in corpus and corpus["source"] == "bible"
    assert sorted(corpus) == sorted(
        ["source", "bible", "file", "huggingface", "size", "min_chars", "max_chars", "if_smaller"]
    )


@pytest.mark.parametrize(
    ("corpus", "message"),
    [
        ({"source": "mixture"}, r"corpus.source is 'mixture' but config.corpus.mixture names \[\]"),
        (
            {"source": "mixture", "mixture": {"only": {"source": "bible"}}},
            r"names \['only'\]; allowed: at least two sources",
        ),
        (
            {"source": "bible", "mixture": {"a": {"source": "bible"}, "b": {"source": "bible"}}},
            r"config.corpus.mixture is set but config.corpus.source is 'bible'",
        ),
        (
            {
                "source": "mixture",
                "mixture": {"a": {"source": "mixture"}, "b": {"source": "bible"}},
            },
            r"corpus.mixture.a.source: 'mixture' is not one of \['bible', 'file', 'huggingface'\]",
        ),
        (
            {
                "source": "mixture",
                "mixture": {"a b": {"source": "bible"}, "c": {"source": "bible"}},
            },
            r"config.corpus.mixture source name 'a b' is not allowed",
        ),
        (
            {
                "source": "mixture",
                "mixture": {"a": {"source": "huggingface"}, "b": {"source": "bible"}},
            },
            r"config.corpus.mixture.a.source is 'huggingface' but "
            r"corpus.mixture.a.huggingface.name is not set",
        ),
        (
            {
                "source": "mixture",
                "mixture": {
                    "a": {"source": "file", "file": {"path": "no/such.txt"}},
                    "b": {"source": "bible"},
                },
            },
            r"config.corpus.mixture.a.file.path 'no/such.txt' is not a file",
        ),
        (
            {
                "source": "mixture",
                "mixture": {
                    "a": {"source": "bible", "bible": {"edition": "zz"}},
                    "b": {"source": "bible"},
                },
            },
            r"config.corpus.mixture.a.bible.edition",
        ),
        (
            {
                "source": "mixture",
                "mixture": {"a": {"source": "bible", "books": [1, 2]}, "b": {"source": "bible"}},
            },
            r"corpus.mixture.a: Additional properties are not allowed \('books'",
        ),
        (
            {"source": "mixture", "mixture": {"a": {"bible": {}}, "b": {"source": "bible"}}},
            r"corpus.mixture.a: 'source' is a required property",
        ),
    ],
)
def test_bad_mixture_configs_are_refused_naming_key_and_value(corpus, message):
    from conftest import make_config
    from mwalign.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        make_config({"corpus": corpus, "translate": {"backend": "transformers"}})


def test_mixture_of_hub_sources_parses_without_the_hub(monkeypatch):
    """Parse-time checks never contact the hub: hub sources are checked by the sample job."""
    from conftest import make_config
    from mwalign.sample.checks import check_corpus_size

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    hub = {"source": "huggingface", "huggingface": {"name": "owner/pairs", "config": "de-en",
                                                    "text_column": "translation.en"}}  # fmt: skip
    corpus = {"source": "mixture", "mixture": {"x": hub, "y": hub}, "size": 7}
    config = make_config({"corpus": corpus, "translate": {"backend": "transformers"}})
    assert config["corpus"]["mixture"]["x"]["huggingface"]["split"] == "train"  # defaults
    assert config["corpus"]["mixture"]["y"]["file"]["format"] == "auto"
    assert check_corpus_size(config, cache_dir=".") == 7


def test_mixture_bible_source_is_kept_apart_from_the_evaluation_verses():
    """evaluate.bible's books and edition are checked against every Bible source."""
    from conftest import make_config
    from mwalign.config import ConfigError

    old = {"source": "bible", "bible": {"books": [1, 20]}}
    new = {"source": "bible", "bible": {"books": [30, 50]}}
    corpus = {"source": "mixture", "mixture": {"old": old, "new": new}}
    with pytest.raises(ConfigError, match=r"overlaps config.corpus.mixture.new.bible.books"):
        make_config({"corpus": corpus, "translate": {"backend": "transformers"}})


def test_mixture_hub_source_offline_names_its_key(monkeypatch, tmp_path):
    from conftest import make_config
    from mwalign.config import ConfigError
    from mwalign.sample.checks import check_offline

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    hub = {"source": "huggingface", "huggingface": {"name": "owner/no-such-pairs"}}
    local = mixture_sources(tmp_path)["alpha"]
    corpus = {"source": "mixture", "mixture": {"hub": hub, "local": local}, "size": 4}
    config = make_config({"corpus": corpus, "translate": {"backend": "transformers"}})
    message = r"config.corpus.mixture.hub.huggingface.name 'owner/no-such-pairs' is a Hugging"
    with pytest.raises(ConfigError, match=message):
        check_offline(config, hint="")
    message = r"corpus.mixture.hub.huggingface.name 'owner/no-such-pairs' needs the Hugging Face"
    with pytest.raises(ValueError, match=message):
        run_mixture(tmp_path, config["corpus"])
    assert not (tmp_path / "m.parquet").exists()


def test_cost_estimate_weights_a_mixture_by_its_shares(tmp_path):
    """mwalign cost's mean sentence length: each local source's filtered mean, weighted by
    its share (size 3: a gives 2 sentences, b gives 1)."""
    from conftest import make_config
    from mwalign.cost.texts import corpus_chars

    (tmp_path / "a.txt").write_text("".join(f"{i:02d} short line here..\n" for i in range(5)))
    (tmp_path / "b.txt").write_text("".join(f"{i:02d} {'x' * 37}\n" for i in range(5)))
    sources = {n: {"source": "file", "file": {"path": str(tmp_path / f"{n}.txt")}} for n in "ab"}
    corpus = {"source": "mixture", "mixture": sources, "size": 3, "min_chars": 5}
    config = make_config({"corpus": corpus, "translate": {"backend": "transformers"}})
    chars, where = corpus_chars(config, tmp_path)
    assert chars == pytest.approx((2 * 20 + 1 * 40) / 3) and "mixture" in where
