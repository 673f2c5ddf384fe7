"""What a model can take, read from its config.json: positions and layers.

Shared by the parse-time checks (:mod:`mwalign.train.checks`) and the train and evaluate
jobs, which check the same before they write anything when the model folder did not
exist yet at parse time. :func:`model_config_at_hand` reads a model's config.json
without the network, where it can be read now.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Model types whose position ids start after the padding index (RoBERTa's scheme), so
# max_position_embeddings - pad_token_id - 1 tokens fit.
PADDING_OFFSET_TYPES = frozenset(
    {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "mpnet", "data2vec-text",
     "longformer", "ibert", "markuplm", "luke"}
)  # fmt: skip


def position_limit(model_config: dict[str, Any]) -> int | None:
    """Tokens a transformers model can take, from its config.json; None if it has no limit."""
    limit = model_config.get("max_position_embeddings")  # a model's file, not our config
    if not isinstance(limit, int):
        return None
    if model_config.get("model_type") in PADDING_OFFSET_TYPES:
        pad = model_config.get("pad_token_id")
        limit -= (1 if pad is None else int(pad)) + 1
    return limit


def encoder_config(folder: Path) -> dict[str, Any] | None:
    """config.json of the transformer in a sentence-transformers (or transformers) folder."""
    modules = folder / "modules.json"
    if modules.is_file():
        for module in json.loads(modules.read_text()):
            candidate = folder / module.get("path", "") / "config.json"
            if candidate.is_file():
                return json.loads(candidate.read_text())
    path = folder / "config.json"
    return json.loads(path.read_text()) if path.is_file() else None


def model_config_at_hand(model_id: str) -> dict[str, Any] | None:
    """A model's config.json, if readable now without the network: a local folder, the
    materialised folder under resources/models, or the Hugging Face cache."""
    from mwalign.models.ids import model_dir

    folder = Path(model_id) if model_id.startswith("/") else Path(model_dir(model_id))
    if folder.is_dir():
        return encoder_config(folder)
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(model_id, "config.json")
    return json.loads(Path(cached).read_text()) if isinstance(cached, str) else None


def check_seq_length(*, key: str, value: int, model_config: dict[str, Any], model: str) -> None:
    limit = position_limit(model_config)
    if limit is not None and value > limit:
        raise ValueError(
            f"{key} is {value}, but model {model!r} takes at most {limit} tokens (its "
            f"max_position_embeddings); allowed: 8 to {limit}"
        )


def check_layers(*, key: str, value: int, model_config: dict[str, Any], model: str) -> None:
    layers = model_config.get("num_hidden_layers")
    if isinstance(layers, int) and value > layers:
        raise ValueError(
            f"{key} is {value}, but model {model!r} has {layers} layers; allowed: 0 to {layers}"
        )
