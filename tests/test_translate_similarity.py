"""The similarity check: cosines per shard (cached embeddings), the flag set by assemble."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from mwalign import tables
from mwalign.assemble import assemble, assemble_similarity
from mwalign.config import load_config
from mwalign.files import file_sha256, read_json, read_table, write_table
from mwalign.translate.params import similarity_params
from mwalign.translate.similarity import row_cosines, score_shard
from test_assemble import N, write_corpus, write_shards
from workflow_helpers import ROOT

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    from test_train_fixtures import make_student

    torch.set_num_threads(1)
    return make_student(tmp_path_factory.mktemp("encoder") / "tiny", dropout=0.0)


def test_row_cosines_match_torch():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    expected = torch.nn.functional.cosine_similarity(torch.tensor(a), torch.tensor(b), dim=1)
    np.testing.assert_allclose(row_cosines(a, b), expected.numpy(), rtol=1e-5)


def write_shard(path, sources, texts):
    frame = pd.DataFrame(
        {"id": range(len(texts)), "lang": "de", "source_text": sources, "text": texts}
    )
    for flag in tables.FLAG_COLUMNS:
        frame[flag] = False
    write_table(pa.Table.from_pandas(frame), path, tables.TRANSLATION)
    return path


def test_shard_cosines_blank_rows_and_cache(tmp_path, encoder):
    sources = ["In the beginning.", "God said, let there be light.", "The earth.", "x y"]
    texts = ["Im Anfang.", "God said, let there be light.", "", "Wasser"]
    shard = write_shard(tmp_path / "0.parquet", sources, texts)
    settings = {"model": str(encoder), "prefix": "", "batch_size": 2, "student": None,
                "max_seq_length": None, "pooling": None, "attention": "pretrained"}  # fmt: skip
    kwargs = dict(shard_path=shard, encoder_dir=encoder, settings=settings,
                  cache_dir=tmp_path / "cache")  # fmt: skip
    stats = score_shard(**kwargs, out_path=tmp_path / "s.parquet", stats_path=tmp_path / "s.json")
    cosines = read_table(tmp_path / "s.parquet", tables.SIMILARITY).column("similarity")
    values = np.array(cosines.to_pylist(), dtype=np.float32)
    assert np.isnan(values[2]) and stats["scored_rows"] == 3
    assert values[1] == pytest.approx(1.0, abs=1e-5)  # a copy is identical to its source
    assert np.all(np.abs(values[[0, 3]]) <= 1)
    assert stats["sentences_encoded"] == 5  # the copy's text is its source: encoded once
    again = score_shard(**kwargs, out_path=tmp_path / "t.parquet", stats_path=tmp_path / "t.json")
    assert again["sentences_encoded"] == 0  # every embedding came from the cache
    assert file_sha256(tmp_path / "t.parquet") == file_sha256(tmp_path / "s.parquet")


def write_similarity(folder, lang, low_ids, shard_size=5):
    paths = []
    for shard, start in enumerate(range(0, N, shard_size)):
        ids = list(range(start, min(start + shard_size, N)))
        values = [0.2 if i in low_ids else 0.95 for i in ids]
        path = folder / f"{lang}-{shard}.similarity.parquet"
        table = pa.table({"id": ids, "similarity": values}, schema=tables.SIMILARITY)
        write_table(table, path, tables.SIMILARITY)
        paths.append(path)
    return paths


@pytest.mark.parametrize("drop_flagged", [True, False])
def test_assemble_counts_and_drops_low_similarity(tmp_path, drop_flagged):
    write_corpus(tmp_path / "en.parquet")
    shards, stats, scores = {}, {}, {}
    for lang, low in (("de", {1, 4}), ("zh", {4, 9})):
        shards[lang], stats[lang] = write_shards(tmp_path, lang)
        scores[lang] = write_similarity(tmp_path, lang, low)
    settings = {"dev_fraction": 0.25, "drop_flagged": drop_flagged,
                "similarity": {"model": "m", "prefix": "", "threshold": 0.5}}  # fmt: skip
    out = tmp_path / "out"
    card = assemble(
        corpus_path=tmp_path / "en.parquet", shards=shards, shard_stats=stats,
        settings=settings, seed=5, multiway_path=out / "multiway.parquet",
        enx_path=out / "enx.parquet", card_path=out / "card.json", similarity=scores,
    )  # fmt: skip
    assert card["translations"]["de"]["flags"][tables.LOW_SIMILARITY] == 2
    assert card["translations"]["zh"]["flags"][tables.LOW_SIMILARITY] == 2
    assert card["multiway"]["dropped"] == (3 if drop_flagged else 0)


def test_similarity_settings_default_to_the_first_student(tmp_path):
    config = load_config(ROOT / "config.yaml", {"translate": {"similarity": {"enabled": True}}})
    name, student = next(iter(config["students"].items()))
    params = similarity_params(config)
    loading = {key: student[key] for key in ("max_seq_length", "pooling", "attention")}
    assert params == {"model": student["model"], "prefix": student["prefix"], "batch_size": 64,
                      "student": name, **loading}  # fmt: skip
    named = load_config(
        ROOT / "config.yaml",
        {"translate": {"similarity": {"enabled": True, "model": str(tmp_path)}}},
    )
    assert similarity_params(named) == {
        "model": str(tmp_path), "prefix": "", "batch_size": 64, "student": None,
        "max_seq_length": None, "pooling": None, "attention": "pretrained",
    }  # fmt: skip
    assert (
        assemble_similarity(config)["threshold"] == config["translate"]["similarity"]["threshold"]
    )
    assert similarity_params(load_config(ROOT / "config.yaml")) is None


@pytest.mark.slow
def test_workflow_flags_low_similarity_and_a_new_threshold_reruns_only_assemble(tmp_path):
    from workflow_helpers import edited_config, planned_jobs, snakemake, tiny_config, tiny_student

    student = tiny_student(tmp_path / "student")
    work = tmp_path / "work"
    work.mkdir()
    translate = {"backend": "reference", "shard_size": 40,
                 "reference": {"editions": {"de": "e", "zh": "c"}},
                 "similarity": {"enabled": True, "threshold": 0.5}}  # fmt: skip
    tiny_config(work, student, translate=translate)
    snakemake(work, "--until", "assemble")
    card = read_json(work / "results/dataset/card.json")
    for lang in ("de", "zh"):
        assert tables.LOW_SIMILARITY in card["translations"][lang]["flags"]
        assert -1 <= card["translations"][lang]["similarity_mean"] <= 1
    assert card["provenance"]["config"]["similarity"]["threshold"] == 0.5

    def threshold(config):
        config["translate"]["similarity"]["threshold"] = 0.9

    with edited_config(work, threshold):
        assert planned_jobs(work, "--until", "assemble") == {"assemble": 1}

    def other_prefix(config):
        config["translate"]["similarity"]["prefix"] = "query: "

    with edited_config(work, other_prefix):
        assert planned_jobs(work, "--until", "assemble") == {"similarity": 4, "assemble": 1}
