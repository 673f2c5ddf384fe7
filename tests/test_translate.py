"""The translate stage with the reference backend: contract, shards, flags, config, resume."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from conftest import make_config, translate_section
from mwalign import bible, tables
from mwalign.config import SCHEMA_DIR
from mwalign.files import read_json, read_table, write_table
from mwalign.translate.backends.reference import ReferenceBackend
from mwalign.translate.batching import make_batches, padded_tokens
from mwalign.translate.params import shard_count, translate_job_params, translate_params
from mwalign.translate.shard import translate_shard

SCHEMA = SCHEMA_DIR / "translate.schema.yaml"
REFS = [f"1:1:{verse}" for verse in range(10, 22)] + ["1:50:99"]  # the last verse does not exist
CFG = {"backend": "reference", "shard_size": 5, "reference": {"editions": {"bn": "b"}}}


def params(cfg: dict, lang: str) -> dict:
    """translate_params of ``lang`` from the section ``cfg`` as validation fills it."""
    return translate_params(translate_section(cfg, [lang]), lang)


def write_corpus(path: Path, refs: list[str] = REFS, source: str = "bible:4") -> list[str]:
    english = bible.lookup("4", refs)
    texts = [text or "" for text in english]
    table = pa.table(
        {"id": range(len(refs)), "text": texts, "source": [source] * len(refs), "ref": refs}
    )
    write_table(table, path, tables.CORPUS)
    return texts


def run_shard(tmp_path: Path, lang: str, shard: int, cfg: dict = CFG, corpus: Path | None = None):
    corpus = corpus or tmp_path / "en.parquet"
    out = tmp_path / "translations" / lang / f"{shard}.parquet"
    stats = translate_shard(
        corpus_path=corpus,
        lang=lang,
        shard=shard,
        params=params(cfg, lang),
        out_path=out,
        stats_path=tmp_path / "translations" / lang / f"{shard}.json",
        work_dir=tmp_path / "work" / lang / str(shard),
        seed=13,
    )
    return read_table(out, tables.TRANSLATION).to_pandas(), stats


def test_reference_shards_hold_the_edition_verses_in_id_order(tmp_path):
    texts = write_corpus(tmp_path / "en.parquet")
    frames = [run_shard(tmp_path, "de", shard)[0] for shard in range(3)]
    assert [len(frame) for frame in frames] == [5, 5, 3]
    ids = [i for frame in frames for i in frame["id"]]
    assert ids == list(range(len(REFS)))
    german = bible.lookup("e", REFS[:5])
    assert frames[0]["text"].tolist() == german
    assert frames[0]["source_text"].tolist() == texts[:5]
    assert set(frames[0]["lang"]) == {"de"}


def test_missing_or_placeholder_verses_are_empty_and_flagged(tmp_path):
    write_corpus(tmp_path / "en.parquet")
    # Bengali edition "b" has "-" for 1:1:18 (merged verse); 1:50:99 exists nowhere.
    frames = [run_shard(tmp_path, "bn", shard)[0] for shard in range(3)]
    rows = {row.id: row for frame in frames for row in frame.itertuples()}
    assert rows[REFS.index("1:1:18")].text == "" and rows[REFS.index("1:1:18")].flag_empty
    assert rows[len(REFS) - 1].text == "" and rows[len(REFS) - 1].flag_empty
    assert sum(row.flag_empty for row in rows.values()) == 2


def test_stats_count_flags_and_record_provenance(tmp_path):
    write_corpus(tmp_path / "en.parquet")
    frame, stats = run_shard(tmp_path, "bn", 2)
    assert stats == read_json(tmp_path / "translations" / "bn" / "2.json")
    assert stats["rows"] == 3 and stats["backend"] == "reference" and stats["model"] == "bible:b"
    assert stats["flags"]["flag_empty"] == int(frame["flag_empty"].sum()) == 1
    assert stats["provenance"]["config"] == params(CFG, "bn")
    assert stats["provenance"]["seed"] == 13
    assert not (tmp_path / "work" / "bn" / "2").exists()


def test_shard_past_the_end_is_an_empty_valid_file(tmp_path):
    write_corpus(tmp_path / "en.parquet")
    frame, stats = run_shard(tmp_path, "zh", 7)
    assert frame.empty and stats["rows"] == 0 and stats["translated_rows"] == 0


def test_reference_backend_needs_a_bible_corpus(tmp_path):
    write_corpus(tmp_path / "en.parquet", source="file:corpus.txt")
    with pytest.raises(ValueError, match="aligned with the reference"):
        run_shard(tmp_path, "de", 0)


def test_params_hold_only_what_a_language_shard_depends_on():
    base = params(CFG, "de")
    other_backend = {**CFG, "vllm": {"model": "some/other-model"}}
    assert params(other_backend, "de") == base
    other_language = {**CFG, "reference": {"editions": {"bn": "b", "fr": "l"}}}
    assert params(other_language, "de") == base
    assert params({**CFG, "reference": {"editions": {"de": "s"}}}, "de") != base
    assert base["reference"] == {"corpus": "bible", "edition": "e"}
    assert "vllm" not in base and "transformers" not in base
    assert params(CFG, "zh")["flags"]["length_ratio"] == [0.1, 1.2]
    nllb = {"backend": "transformers", "transformers": {"model": "facebook/nllb-200-1.3B"}}
    assert params(nllb, "de") == params(
        {**nllb, "transformers": {**nllb["transformers"], "prompt": "instruct"}}, "de"
    )  # a seq2seq model takes no prompt
    marian = {
        "backend": "transformers",
        "transformers": {"model": "Helsinki-NLP/opus-mt-en-{lang}"},
    }
    assert params(marian, "de")["transformers"]["model"] == "Helsinki-NLP/opus-mt-en-de"


def test_only_a_listed_translator_gets_remote_code():
    marian = {"backend": "transformers", "transformers": {"model": "org/opus-mt-en-{lang}"}}

    def job_params(trusted: list[str], lang: str) -> dict:
        config = make_config({"translate": marian, "trust_remote_code": trusted})
        return translate_job_params(config, lang)["transformers"]

    assert "trust_remote_code" not in job_params([], "de")
    assert job_params(["org/opus-mt-en-{lang}"], "de")["trust_remote_code"] is True
    assert "trust_remote_code" not in job_params(["org/opus-mt-en-zh"], "de")
    assert job_params(["org/opus-mt-en-zh"], "zh")["trust_remote_code"] is True
    reference = make_config({"translate": CFG, "trust_remote_code": ["owner/tiny-student"]})
    assert translate_job_params(reference, "de") == params(CFG, "de")


@pytest.mark.parametrize(
    ("cfg", "languages", "message"),
    [
        ({"backend": "marian-fast"}, ["de"], "translate.backend: 'marian-fast' is not one of"),
        ({"backend": "reference"}, ["nl"], "no reference edition for language 'nl'"),
        ({"reference": {"editions": {"de": "?"}}}, ["de"], "unknown Bible edition '\\?'"),
        ({}, ["xx"], "unknown language 'xx'"),
        ({"shard_size": 0}, ["de"], "translate.shard_size: 0 is less than the minimum of 1"),
        ({"flags": {"length_ratio": [2, 1]}}, ["de"], r"length_ratio is \[2(\.0)?, 1(\.0)?\]"),
        (
            {"backend": "vllm", "vllm": {"prompt": "fewshot"}},
            ["sw"],
            "no few-shot examples for language 'sw'",
        ),
        (
            {"backend": "transformers", "transformers": {"model": "Helsinki-NLP/opus-mt-en-de"}},
            ["de", "fr"],
            "one Marian language pair",
        ),
    ],
)
def test_bad_config_is_named(cfg, languages, message):
    with pytest.raises(ValueError, match=message):
        translate_section(cfg, languages)


def test_default_config_is_valid():
    translate_section(CFG, ["ar", "de", "es", "hi", "ru", "zh", "bn"])
    assert shard_count(2000, 1000) == 2 and shard_count(2001, 1000) == 3 and shard_count(0, 5) == 1


def _schema_defaults(node: dict) -> object:
    if node.get("type") == "object" and "properties" in node:
        return {key: _schema_defaults(child) for key, child in node["properties"].items()}
    return node["default"]


def test_schema_describes_every_key_and_validation_fills_its_defaults():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    # the file declares its dialect and its defaults are still filled in, at every level
    assert make_config()["translate"] == _schema_defaults(schema)

    def walk(node: dict, where: str) -> None:
        assert "description" in node and "default" in node, where
        if "properties" in node:
            assert node.get("additionalProperties") is False, where
            for key, child in node["properties"].items():
                walk(child, f"{where}.{key}")

    walk(schema, "translate")


def test_token_budget_batches_cover_every_position_once_within_budget():
    lengths = [3, 50, 7, 7, 120, 1, 9, 30, 30, 2, 600, 14]
    batches = make_batches(lengths, token_budget=128, max_batch_size=4)
    assert sorted(pos for batch in batches for pos in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 4
        assert len(batch) == 1 or padded_tokens([lengths[p] for p in batch]) <= 128
    longest_first = [max(lengths[p] for p in batch) for batch in batches]
    assert longest_first == sorted(longest_first, reverse=True)
    naive = make_batches(lengths, token_budget=10**9, max_batch_size=5, sort_by_length=False)
    assert naive == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]


class KilledError(RuntimeError):
    pass


def test_killed_shard_resumes_without_redoing_finished_batches(tmp_path, monkeypatch):
    refs = [f"1:{chapter}:{verse}" for chapter in (1, 2) for verse in range(1, 21)]
    write_corpus(tmp_path / "en.parquet", refs)
    cfg = {**CFG, "shard_size": 100}
    monkeypatch.setattr("mwalign.translate.shard.REFERENCE_BATCH", 8)
    calls: list[int] = []
    real = ReferenceBackend.translate

    def dying(self, texts, refs):
        if len(calls) == 3:
            raise KilledError("killed")
        calls.append(len(texts))
        return real(self, texts, refs)

    monkeypatch.setattr(ReferenceBackend, "translate", dying)
    with pytest.raises(KilledError):
        run_shard(tmp_path, "ru", 0, cfg)
    assert not (tmp_path / "translations" / "ru" / "0.parquet").exists()
    assert len(list((tmp_path / "work" / "ru" / "0").glob("batch-*.parquet"))) == 3

    monkeypatch.setattr(ReferenceBackend, "translate", real)
    frame, stats = run_shard(tmp_path, "ru", 0, cfg)
    assert stats["resumed_batches"] == 3 and stats["resumed_rows"] == 24
    assert stats["translated_rows"] == 40 - 24
    assert frame["text"].tolist() == bible.lookup("r", refs)


def test_batches_of_other_settings_are_not_reused(tmp_path, monkeypatch):
    write_corpus(tmp_path / "en.parquet")
    work = tmp_path / "work" / "de" / "0"
    run_shard(tmp_path, "de", 0)
    # a leftover batch written under another edition must be discarded
    from mwalign.translate.store import BatchStore

    store = BatchStore(work, "another-fingerprint")
    store.load()
    store.save([0, 1], ["stale", "stale"])
    frame, stats = run_shard(tmp_path, "de", 0)
    assert stats["resumed_rows"] == 0 and "stale" not in frame["text"].tolist()


def test_blank_and_odd_sources_never_crash(tmp_path):
    table = pa.table(
        {
            "id": [0, 1, 2],
            "text": [
                "   ",
                "In the\x00 beginning\x07 God",
                "God said \ud800?".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
            ],
            "source": ["bible:4"] * 3,
            "ref": ["1:1:1", "1:1:1", "1:1:3"],
        }
    )
    write_table(table, tmp_path / "en.parquet", tables.CORPUS)
    frame, stats = run_shard(tmp_path, "de", 0)
    assert frame["text"].tolist()[0] == "" and frame["flag_empty"].tolist()[0]
    assert frame["text"].tolist()[1:] == bible.lookup("e", ["1:1:1", "1:1:3"])
    assert stats["empty_sources"] == 1 and stats["cleaned_sources"] == 1
