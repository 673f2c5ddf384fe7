"""Load a materialised translator folder for the transformers (and vllm) backends.

The fetch_model rule makes the folder (:func:`mwalign.models.fetch.materialise_model` with
``kind="translator"``): a plain transformers folder, GGUF weights already dequantised.
Its ``mwalign_model.json`` says where the weights came from and whether the config
allowed the model's own code; a folder without that record (a test's model) runs none.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from mwalign.paths import MODEL_INFO_FILE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource:
    """A translator folder, where its weights came from, and whether its code may run."""

    path: str
    provenance: str
    trust_remote_code: bool = False


def translator_source(path: str | os.PathLike) -> ModelSource:
    """The :class:`ModelSource` of the translator folder ``path`` (from its record, if any).

    A folder with a record is checked against the sha256 it records first.
    """
    from mwalign.models.integrity import read_model_info, verify_model_folder

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder} is not a transformers model folder (no config.json)")
    if not (folder / MODEL_INFO_FILE).is_file():
        return ModelSource(str(folder.resolve()), f"local folder {folder}")
    verify_model_folder(folder)  # the weights fetch_model recorded, not a damaged copy
    info = read_model_info(folder)
    trust = info.get("trust_remote_code") is True
    return ModelSource(str(folder.resolve()), info["provenance"], trust)


def load_tokenizer(source: ModelSource):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        source.path, local_files_only=True, trust_remote_code=source.trust_remote_code
    )


def pick_dtype(name: str, device: str):
    """torch dtype of ``name``; ``auto`` is bfloat16 on a GPU that has it, float32 otherwise."""
    import torch

    if name == "auto":
        if device == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, name)


def load_model(source: ModelSource, family: str, dtype: str, device: str):
    """The model in eval mode on ``device``; checks it is of the configured family."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    remote = {"local_files_only": True, "trust_remote_code": source.trust_remote_code}
    config = AutoConfig.from_pretrained(source.path, **remote)
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    if seq2seq != (family != "causal"):
        kind = "an encoder-decoder" if seq2seq else "a decoder-only"
        raise ValueError(
            f"model {source.path!r} is {kind} model ({config.model_type}) but "
            f"translate.transformers.family is {family!r}"
        )
    auto = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    model = auto.from_pretrained(source.path, dtype=pick_dtype(dtype, device), **remote)
    return model.to(device).eval()
