"""Model sizes that set the matrix products per token: from ``config.json``, or a table.

A model's shape is read from its ``config.json`` where one is at hand: a local folder
(the id itself), the folder rule fetch_model made (``resources/models/<slug>``), or the
Hugging Face cache. Otherwise it comes from :data:`KNOWN_SHAPES`, transcribed from the
``config.json`` of each id on the Hugging Face hub. An id in neither is an error that says
what to do.

FLOPs per token count the matrix products with weights (2 FLOPs per weight and token:
one multiply, one add); embedding lookups do none. Attention's scores and weighted sums
(4 * layers * hidden * length per token, forward) are left out: at the lengths here (at
most 128 tokens) they add under 10% to a base model's products. Biases, layer norms and
activations are left out too.

Example: e5-small (12 layers, hidden 384, FFN 1536) has 12 * (4 * 384^2 + 2 * 384 * 1536)
= 21.2 M weights in its layers, so encoding costs 42.5 MFLOP per token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mwalign.models.ids import model_dir

HUB = "config.json of the id on the Hugging Face hub"


@dataclass(frozen=True)
class Shape:
    """The sizes of one model's matrix products.

    ``kind``: ``encoder`` (BERT family), ``seq2seq`` (NLLB, M2M100, Marian: ``layers``
    encoder layers and ``decoder_layers`` decoder layers, each with cross-attention) or
    ``decoder`` (a causal LM: ``layers`` decoder layers). ``attention`` and ``kv`` are the
    widths of the query/output and of the key/value projections (heads x head size; they
    differ from ``hidden`` with grouped-query attention); ``gated``: an MLP of three
    matrices (gate, up, down) instead of two.
    """

    kind: str
    layers: int
    hidden: int
    ffn: int
    vocab: int
    source: str
    decoder_layers: int = 0
    decoder_ffn: int = 0
    attention: int = 0
    kv: int = 0
    gated: bool = False

    def layer_weights(self, *, ffn: int | None = None, cross: bool = False) -> int:
        """Weights of one layer's matrix products (attention, cross-attention, MLP)."""
        attention = self.attention or self.hidden
        kv = self.kv or self.hidden
        self_attention = 2 * self.hidden * attention + 2 * self.hidden * kv
        mlp = (3 if self.gated else 2) * self.hidden * (ffn or self.ffn)
        return self_attention * (2 if cross else 1) + mlp

    def encoder_weights(self) -> int:
        """Weights a token meets on its way through the encoder (or a causal LM's layers)."""
        return self.layers * self.layer_weights()

    def forward_flops(self) -> float:
        """FLOPs to encode one token (an encoder's, or a causal LM's prompt token)."""
        return 2.0 * self.encoder_weights()

    def train_flops(self, *, frozen_layers: int = 0, checkpointing: bool = False) -> float:
        """FLOPs of one token in a training step: forward through every layer (2 per
        weight), backward through the trained ones (4 per weight: the input's gradient and
        the weights'; the frozen bottom layers need none), and with gradient checkpointing
        the trained layers' forward once more."""
        per_layer = 2.0 * self.layer_weights()
        trained = max(0, self.layers - frozen_layers)
        backward = 2 * per_layer * trained
        recompute = per_layer * trained if checkpointing else 0.0
        return per_layer * self.layers + backward + recompute

    def generation_flops(self) -> float:
        """FLOPs to generate one token: the decoder's layers (with cross-attention for a
        seq2seq model) and the output projection onto the vocabulary."""
        if self.kind == "seq2seq":
            ffn = self.decoder_ffn or self.ffn
            layers = self.decoder_layers * self.layer_weights(ffn=ffn, cross=True)
        else:
            layers = self.encoder_weights()
        return 2.0 * (layers + self.hidden * self.vocab)


def _encoder(layers: int, hidden: int, ffn: int, vocab: int) -> Shape:
    return Shape("encoder", layers, hidden, ffn, vocab, HUB)


def _seq2seq(layers: int, hidden: int, ffn: int, vocab: int) -> Shape:
    return Shape("seq2seq", layers, hidden, ffn, vocab, HUB, decoder_layers=layers)


# Ids the project's experiments and documentation name, with their config.json figures.
KNOWN_SHAPES: dict[str, Shape] = {
    "intfloat/multilingual-e5-small": _encoder(12, 384, 1536, 250037),
    "intfloat/multilingual-e5-base": _encoder(12, 768, 3072, 250002),
    "intfloat/multilingual-e5-large": _encoder(24, 1024, 4096, 250002),
    "FacebookAI/xlm-roberta-base": _encoder(12, 768, 3072, 250002),
    "xlm-roberta-base": _encoder(12, 768, 3072, 250002),
    "FacebookAI/xlm-roberta-large": _encoder(24, 1024, 4096, 250002),
    "google-bert/bert-base-multilingual-cased": _encoder(12, 768, 3072, 119547),
    "bert-base-multilingual-cased": _encoder(12, 768, 3072, 119547),
    "sentence-transformers/all-MiniLM-L6-v2": _encoder(6, 384, 1536, 30522),
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": _encoder(12, 384, 1536, 250037),
    "sentence-transformers/LaBSE": _encoder(12, 768, 3072, 501153),
    "facebook/nllb-200-distilled-600M": _seq2seq(12, 1024, 4096, 256206),
    "facebook/nllb-200-distilled-1.3B": _seq2seq(24, 1024, 8192, 256206),
    "facebook/nllb-200-1.3B": _seq2seq(24, 1024, 8192, 256206),
    "facebook/nllb-200-3.3B": _seq2seq(24, 2048, 8192, 256206),
    "facebook/m2m100_418M": _seq2seq(12, 1024, 4096, 128112),
    "facebook/m2m100_1.2B": _seq2seq(24, 1024, 8192, 128112),
    "google/gemma-3-270m": Shape(
        "decoder", 18, 640, 2048, 262144, HUB, attention=4 * 256, kv=256, gated=True
    ),
}

ENCODER_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra")
SEQ2SEQ_TYPES = ("m2m_100", "nllb-moe", "marian", "mbart", "t5", "mt5")
DECODER_TYPES = ("gemma", "gemma2", "gemma3_text", "llama", "mistral", "qwen2", "qwen3", "phi3")


def shape_from_config(config: dict[str, Any], source: str) -> Shape:
    """The :class:`Shape` of a transformers ``config.json`` (``source`` names the file)."""
    config = config.get("text_config", config)  # a multimodal wrapper's language model
    kind = config.get("model_type", "")
    if kind in ENCODER_TYPES:
        layers = config.get("num_hidden_layers", config.get("n_layers"))
        hidden = config.get("hidden_size", config.get("dim"))
        ffn = config.get("intermediate_size", config.get("hidden_dim"))
        return Shape("encoder", layers, hidden, ffn, config["vocab_size"], source)
    if kind in SEQ2SEQ_TYPES:
        hidden = config.get("d_model")
        return Shape(
            "seq2seq",
            config.get("encoder_layers", config.get("num_layers")),
            hidden,
            config.get("encoder_ffn_dim", config.get("d_ff")),
            config["vocab_size"],
            source,
            decoder_layers=config.get("decoder_layers", config.get("num_decoder_layers")),
            decoder_ffn=config.get("decoder_ffn_dim", config.get("d_ff")),
        )
    if kind in DECODER_TYPES:
        hidden = config["hidden_size"]
        heads = config["num_attention_heads"]
        head_dim = config.get("head_dim") or hidden // heads
        return Shape(
            "decoder",
            config["num_hidden_layers"],
            hidden,
            config["intermediate_size"],
            config["vocab_size"],
            source,
            attention=heads * head_dim,
            kv=config.get("num_key_value_heads", heads) * head_dim,
            gated=True,
        )
    known = ", ".join(ENCODER_TYPES + SEQ2SEQ_TYPES + DECODER_TYPES)
    raise ValueError(f"{source}: model_type {kind!r} has no FLOP count here; known: {known}")


def _config_files(model_id: str, root: Path) -> list[Path]:
    """Where a config.json of ``model_id`` may be: the folder itself (a local id), then
    the folder fetch_model made of it."""
    folders = [Path(model_id)] if model_id.startswith("/") else []
    folders.append(root / model_dir(model_id))
    return [folder / "config.json" for folder in folders]


def _hub_cache_config(model_id: str) -> Path | None:
    if model_id.startswith("/"):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(model_id, "config.json")
    return Path(found) if isinstance(found, str) else None


def model_shape(model_id: str, root: str | Path = ".") -> Shape:
    """The shape of ``model_id``: from a config.json at hand (relative to ``root``, the
    project folder), else from :data:`KNOWN_SHAPES`; ValueError says what to do."""
    candidates = _config_files(model_id, Path(root))
    cached = _hub_cache_config(model_id)
    candidates += [cached] if cached else []
    for path in candidates:
        if path.is_file():
            return shape_from_config(json.loads(path.read_text()), str(path))
    if model_id in KNOWN_SHAPES:
        return KNOWN_SHAPES[model_id]
    raise ValueError(
        f"no size known for model {model_id!r}: no config.json at "
        f"{', '.join(map(str, candidates))}, and it is not among the known ids "
        f"({', '.join(sorted(KNOWN_SHAPES))}); run `snakemake fetch_model` (or download the "
        "model) first, so that its config.json is at hand"
    )
