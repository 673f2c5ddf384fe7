"""Models with random weights and synthetic text, built from configs: no downloads.

Used by bench/gpu_check.py. Text is made of words ``w0 w1 ...`` that a word-level
tokenizer maps to one token each, so sentence lengths in tokens are exactly what the
length distribution draws: log-normal around a median (Wikipedia-like sentences have a
median of about 25 XLM-R tokens and a long tail), clipped to ``[min_len, max_len]``.
Translations of one sentence get lengths within 0.8-1.25 of the English one.

The tokenizer's specials follow XLM-R / NLLB: ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2,
``<unk>`` 3; language codes (NLLB's ``eng_Latn``...) come next, then the words. Its
folder names ``PreTrainedTokenizerFast`` so transformers 4 and 5 both load it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
TEXT_WORDS = 30_000  # distinct words used in sentences (at most the vocabulary)


@dataclass(frozen=True)
class Lengths:
    """Sentence lengths in words: log-normal, ``median`` and ``sigma``, clipped."""

    median: float = 25.0
    sigma: float = 0.55
    min_len: int = 4
    max_len: int = 160


def sentence_lengths(rng: np.random.Generator, n: int, lengths: Lengths) -> np.ndarray:
    drawn = rng.lognormal(np.log(lengths.median), lengths.sigma, size=n)
    return np.clip(np.rint(drawn), lengths.min_len, lengths.max_len).astype(int)


def sentences(rng: np.random.Generator, counts: np.ndarray, words: int) -> list[str]:
    """One sentence of ``counts[i]`` random words per entry."""
    return [" ".join(f"w{i}" for i in rng.integers(0, words, size=int(c))) for c in counts]


def translation_lengths(rng: np.random.Generator, english: np.ndarray, lengths: Lengths):
    ratio = rng.uniform(0.8, 1.25, size=len(english))
    return np.clip(np.rint(english * ratio), lengths.min_len, lengths.max_len).astype(int)


def _atomic_folder(folder: Path, build) -> Path:
    """Build into a scratch folder, then rename it onto ``folder`` (skip if it exists)."""
    if (folder / "config.json").exists() or (folder / "modules.json").exists():
        return folder
    scratch = folder.parent / f".{folder.name}.building"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    build(scratch)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(scratch, folder)
    return folder


def save_tokenizer(
    folder: Path, vocab_size: int, *, extra: tuple[str, ...] = (), add_eos: bool = True
) -> None:
    """A word-level fast tokenizer of ``vocab_size`` entries saved into ``folder``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate([*SPECIALS, *extra])}
    for word in range(vocab_size - len(vocab)):
        vocab[f"w{word}"] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    single = "<s> $A </s>" if add_eos else "<s> $A"
    core.post_processor = processors.TemplateProcessing(
        single=single, special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        cls_token="<s>",
        sep_token="</s>",
    )
    tokenizer.save_pretrained(folder)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=1))


def _init_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_student(folder: Path, dims: dict, max_seq_length: int) -> Path:
    """An XLM-R encoder (``dims`` overrides XLMRobertaConfig) + mean pooling + normalise,
    saved as a sentence-transformers folder; ``student.json`` records its matmul weights."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    try:  # sentence-transformers >= 6
        from sentence_transformers.base.modules import Normalize, Transformer
        from sentence_transformers.sentence_transformer.modules import Pooling
    except ImportError:
        from sentence_transformers.models import Normalize, Pooling, Transformer
    from sentence_transformers import SentenceTransformer

    def build(scratch: Path) -> None:
        config = XLMRobertaConfig(pad_token_id=1, bos_token_id=0, eos_token_id=2, **dims)
        torch.manual_seed(0)
        with _init_device():
            model = XLMRobertaModel(config, add_pooling_layer=False)
        hf_dir = scratch / "hf"
        model.save_pretrained(hf_dir)
        save_tokenizer(hf_dir, config.vocab_size)
        transformer = Transformer(str(hf_dir), max_seq_length=max_seq_length)
        pooling = Pooling(transformer.get_embedding_dimension(), "mean")
        student = SentenceTransformer(modules=[transformer, pooling, Normalize()])
        student.save_pretrained(str(scratch))
        matmul = sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)
        info = {
            "non_embedding_parameters": matmul,
            "parameters": sum(p.numel() for p in model.parameters()),
            "layers": config.num_hidden_layers,
            "hidden": config.hidden_size,
        }
        (scratch / "student.json").write_text(json.dumps(info))

    return _atomic_folder(folder, build)


def build_translator(folder: Path, dims: dict, language_codes: tuple[str, ...]) -> Path:
    """An NLLB-style M2M100 encoder-decoder (``dims`` overrides M2M100Config), bf16 on a
    GPU, with the language codes in its vocabulary."""
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    def build(scratch: Path) -> None:
        config = M2M100Config(
            pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2, **dims
        )
        torch.manual_seed(0)
        device = _init_device()
        with device:
            model = M2M100ForConditionalGeneration(config)
        if device.type == "cuda":
            model = model.to(torch.bfloat16)
        model.save_pretrained(scratch)
        save_tokenizer(scratch, config.vocab_size, extra=language_codes)

    return _atomic_folder(folder, build)


def build_causal_lm(folder: Path, dims: dict) -> Path:
    """A Llama-architecture causal LM (``dims`` overrides LlamaConfig) for the vllm backend."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    def build(scratch: Path) -> None:
        config = LlamaConfig(pad_token_id=1, bos_token_id=0, eos_token_id=2, **dims)
        torch.manual_seed(0)
        device = _init_device()
        with device:
            model = LlamaForCausalLM(config)
        if device.type == "cuda":
            model = model.to(torch.bfloat16)
        model.save_pretrained(scratch)
        save_tokenizer(scratch, config.vocab_size, add_eos=False)

    return _atomic_folder(folder, build)


def write_multiway(
    path: Path, languages: list[str], rows: int, lengths: Lengths, words: int, seed: int = 0
) -> Path:
    """A multi-way dataset file (the assemble stage's schema), every row in the train split."""
    import pyarrow as pa
    from mwalign import files, tables

    rng = np.random.default_rng(seed)
    english = sentence_lengths(rng, rows, lengths)
    table = {"id": list(range(rows)), "split": ["train"] * rows}
    table["en"] = sentences(rng, english, words)
    for lang in languages:
        table[lang] = sentences(rng, translation_lengths(rng, english, lengths), words)
    files.write_table(pa.table(table), path, tables.multiway_schema(languages))
    return path


def write_corpus(path: Path, rows: int, lengths: Lengths, words: int, seed: int = 1) -> Path:
    """An English corpus file (the sample stage's schema) of synthetic sentences."""
    import pyarrow as pa
    from mwalign import files, tables

    rng = np.random.default_rng(seed)
    texts = sentences(rng, sentence_lengths(rng, rows, lengths), words)
    table = pa.table(
        {
            "id": list(range(rows)),
            "text": texts,
            "source": ["synthetic"] * rows,
            "ref": [f"synthetic:{i}" for i in range(rows)],
        }
    )
    files.write_table(table, path, tables.CORPUS)
    return path
