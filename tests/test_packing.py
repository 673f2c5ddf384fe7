"""Training on packed tokens (mwalign.train.packing) against the padded model it replaces:
the same dropout masks, the same embeddings and gradients up to float rounding, and the
model put back as it was loaded."""

from __future__ import annotations

import copy

import pytest
import torch
from mwalign.train.packing import (
    ROW_MULTIPLE,
    Layout,
    PackedDropout,
    _State,
    packed_training,
    why_not_packed,
)
from torch import nn

SENTENCES = [
    "the house is red",
    "a dog runs fast through the cold water of the river",
    "water",
    "the dog is a red dog and the house is cold",
]


def tiny_encoder(folder, model_type: str = "bert", attention: str = "sdpa"):
    """A SentenceTransformer over a tiny transformers encoder built from a config (2 layers),
    saved in ``folder``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from test_train_fixtures import tokenizer_file
    from transformers import AutoConfig, AutoModel, XLMRobertaTokenizerFast

    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_file()))
    config = AutoConfig.for_model(
        model_type,
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    transformer = Transformer(
        str(folder), max_seq_length=64, model_kwargs={"attn_implementation": attention}
    )
    pooling = Pooling(transformer.get_embedding_dimension(), "mean")
    return SentenceTransformer(modules=[transformer, pooling])


def step(model, *, seed: int = 1, batches=(SENTENCES,), bf16: bool = False):
    """Embeddings and gradients of one training step over ``batches`` (each its own forward
    pass, as the views of a step are; one loss over all of them)."""
    model.train()
    model.zero_grad(set_to_none=True)
    features = [model.preprocess(list(batch)) for batch in batches]
    torch.manual_seed(seed)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        embeddings = torch.cat([model(f)["sentence_embedding"] for f in features]).float()
    (embeddings * torch.linspace(-1, 1, embeddings.shape[1])).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return embeddings.detach(), grads, features[0]["attention_mask"]


def test_layout_packs_real_tokens_and_unpacks_with_zeros():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    layout = Layout.from_mask(mask)
    assert layout.tokens == 8
    padded = torch.arange(3 * 4 * 2, dtype=torch.float32).view(3, 4, 2)
    packed = layout.pack(padded)
    assert packed.shape == (1, ROW_MULTIPLE, 2)  # rows rounded up to a few shapes
    torch.testing.assert_close(packed[0, :8], padded[mask.bool()])
    assert all(torch.equal(row, padded[0, 3]) for row in packed[0, 8:])  # a padding row
    restored = layout.unpack(packed)
    torch.testing.assert_close(restored, padded * mask.unsqueeze(-1))
    many = torch.ones(3, 40, dtype=torch.long)
    many[0, -1] = 0
    assert Layout.from_mask(many).rows == 2 * ROW_MULTIPLE
    assert Layout.from_mask(torch.ones(2, 3)).rows == ROW_MULTIPLE  # copies of a token


def test_packed_dropout_gives_each_real_token_its_padded_mask():
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    layout = Layout.from_mask(mask)
    x = torch.randn(2, 3, 5)
    torch.manual_seed(3)
    padded = nn.functional.dropout(x, 0.3, training=True)
    after_padded = torch.rand(1)
    state = _State(layout=layout)
    dropout = PackedDropout(0.3, False, state).train()
    torch.manual_seed(3)
    packed = dropout(layout.pack(x))
    # bit for bit, and the random stream is where the padded draw left it
    assert torch.equal(packed, layout.pack(padded))
    assert torch.equal(torch.rand(1), after_padded)


@pytest.mark.parametrize(
    ("model_type", "attention"), [("bert", "sdpa"), ("bert", "eager"), ("xlm-roberta", "sdpa")]
)
def test_packed_training_step_equals_the_padded_one(tmp_path, model_type, attention):
    model = tiny_encoder(tmp_path, model_type, attention)
    padded_embeddings, padded_grads, mask = step(model)
    assert not bool(mask.all()), "the batch must have padding"
    with packed_training(model) as record:
        packed_embeddings, packed_grads, _ = step(model)
    assert record["packed"] is True
    assert record["packed_tokens"] == int(mask.sum())
    assert record["padded_tokens"] == mask.numel()
    torch.testing.assert_close(packed_embeddings, padded_embeddings, rtol=1e-5, atol=1e-6)
    assert packed_grads.keys() == padded_grads.keys()
    for name, grad in padded_grads.items():
        torch.testing.assert_close(packed_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    # dropout was on: another seed gives other embeddings
    other, _, _ = step(model, seed=2)
    assert not torch.allclose(other, padded_embeddings)


def test_packed_training_under_gradient_checkpointing(tmp_path):
    # two padded batches and one without padding: the layers of the first are recomputed
    # after the later forward passes
    batches = (SENTENCES, SENTENCES[1::-1], ["the house is red", "the dog is red"])
    model = tiny_encoder(tmp_path / "encoder")
    embeddings, grads, _ = step(model, batches=batches)
    backbone = model.transformers_model
    getattr(backbone, "activation_checkpointing_enable", None) or (
        backbone.gradient_checkpointing_enable
    )()
    with packed_training(model) as record:
        packed_embeddings, packed_grads, _ = step(model, batches=batches)
    assert record["packed"] is True
    assert record["packed_tokens"] < record["padded_tokens"]
    torch.testing.assert_close(packed_embeddings, embeddings, rtol=1e-5, atol=1e-6)
    for name, grad in grads.items():
        torch.testing.assert_close(packed_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_packed_training_under_bf16_autocast(tmp_path):
    model = tiny_encoder(tmp_path / "encoder")
    embeddings, grads, _ = step(model, bf16=True)
    with packed_training(model):
        packed_embeddings, packed_grads, _ = step(model, bf16=True)
    torch.testing.assert_close(packed_embeddings, embeddings, rtol=2e-2, atol=2e-2)
    for name, grad in grads.items():
        scale = grad.abs().max().item() or 1.0
        torch.testing.assert_close(packed_grads[name], grad, rtol=0, atol=0.05 * scale, msg=name)


def test_packed_training_leaves_the_model_as_loaded(tmp_path):
    model = tiny_encoder(tmp_path / "encoder")
    backbone = model.transformers_model
    modules = [(name, type(module)) for name, module in model.named_modules()]
    state = copy.deepcopy(model.state_dict())
    with packed_training(model):
        assert backbone.config._attn_implementation == "mwalign_packed_sdpa"
        assert any(isinstance(m, PackedDropout) for m in model.modules())
        model.save_pretrained(str(tmp_path / "checkpoint"))  # as the Trainer's checkpoints
    assert backbone.config._attn_implementation == "sdpa"
    assert [(name, type(module)) for name, module in model.named_modules()] == modules
    assert not model[0]._forward_pre_hooks and not backbone.encoder._forward_pre_hooks
    assert not backbone.encoder._forward_hooks
    assert model.state_dict().keys() == state.keys()
    model.save_pretrained(str(tmp_path / "saved"))
    for name in ("config.json", "sentence_bert_config.json", "modules.json"):
        saved = (tmp_path / "saved" / name).read_text()
        assert (tmp_path / "checkpoint" / name).read_text() == saved
        assert "mwalign" not in saved
    # evaluation is never packed: the model in eval mode computes as before
    model.eval()
    with packed_training(model), torch.no_grad():
        inside = model.encode(SENTENCES, convert_to_tensor=True)
    outside = model.encode(SENTENCES, convert_to_tensor=True)
    assert torch.equal(inside, outside)


def test_other_models_train_padded(tmp_path):
    model = tiny_encoder(tmp_path / "encoder")
    backbone = model.transformers_model
    assert why_not_packed(backbone) is None
    backbone.config._attn_implementation = "flex_attention"
    assert "attention 'flex_attention'" in why_not_packed(backbone)
    backbone.config._attn_implementation = "sdpa"
    backbone.config.model_type = "gemma3_text"
    with packed_training(model) as record:
        assert not any(isinstance(m, PackedDropout) for m in model.modules())
    assert record["packed"] is False
    assert "gemma3_text" in record["packed_reason"]
