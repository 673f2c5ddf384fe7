"""A student as training and evaluation use it: a model folder read with the student's
pooling and attention mode.

The resolver (:mod:`mwalign.models.fetch`) materialises one folder per model id, shared by every
student that names it, so the student's own settings are applied here, when the folder is
loaded, never written into the shared folder:

- ``pooling``: sentence-transformers' pooling mode (``mean``, or ``lasttoken``: the hidden
  state of the last non-padding token, which is the only one that sees the whole sentence
  under causal attention);
- ``attention``: ``pretrained`` keeps the model's own attention (causal for a decoder such
  as Gemma 3, bidirectional for BERT-like encoders); ``bidirectional`` lets every token
  attend to every other one. For Gemma 3 that is transformers' ``use_bidirectional_attention``
  config flag, the switch EmbeddingGemma uses to turn Gemma 3 into an encoder; it must be
  set before the model is built (each attention module reads it at construction), so it
  is passed to ``AutoConfig`` through sentence-transformers' ``config_kwargs``. (Set this
  way, Gemma 3's local layers keep their 512-token window, now on both sides of a token,
  where a config written with the flag halves it; inputs shorter than 257 tokens, such as
  every sentence here, see the same tokens either way.)
  Encoders are bidirectional already; a decoder without such a flag is an error.

A trained run's folder is saved with the settings it was trained with, so loading it with
the same student settings changes nothing.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from mwalign.files import read_json
from mwalign.models.load import load_sentence_transformer

log = logging.getLogger(__name__)

BIDIRECTIONAL_FLAG = "use_bidirectional_attention"


def attention_config_kwargs(path: str | os.PathLike, attention: str, *, where: str) -> dict:
    """``AutoConfig`` keyword arguments that give the model in ``path`` the ``attention`` mode.

    ``where`` names the config key in errors (e.g. ``config.students.gemma.attention``).
    """
    if attention == "pretrained":
        return {}
    if attention != "bidirectional":
        raise ValueError(f"{where} = {attention!r}: allowed: pretrained, bidirectional")
    from transformers import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    model_type = read_json(Path(path) / "config.json").get("model_type")
    # CONFIG_MAPPING is lazy: its .get() does not import the class, indexing does
    config_class = CONFIG_MAPPING[model_type] if model_type in CONFIG_MAPPING else None  # noqa: SIM401
    if BIDIRECTIONAL_FLAG in getattr(config_class, "__dataclass_fields__", {}):
        return {BIDIRECTIONAL_FLAG: True}
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return {}  # an encoder (BERT, XLM-R, ...): bidirectional as pretrained
    raise ValueError(
        f"{where} = 'bidirectional', but model type {model_type!r} in {path} has no "
        f"bidirectional mode in transformers (no {BIDIRECTIONAL_FLAG} config flag); "
        "use 'pretrained'"
    )


def set_pooling(model: Any, pooling: str) -> None:
    """Replace the one Pooling module of a SentenceTransformer by one with mode ``pooling``."""
    from sentence_transformers.sentence_transformer.modules import Pooling

    names = [name for name, module in model.named_children() if isinstance(module, Pooling)]
    if len(names) != 1:
        raise ValueError(f"expected one Pooling module in the student, found {len(names)}")
    old = model._modules[names[0]]
    if old.pooling_mode == pooling:
        return
    model._modules[names[0]] = Pooling(
        old.embedding_dimension, pooling_mode=pooling, include_prompt=old.include_prompt
    )


def load_student(
    path: str | os.PathLike,
    *,
    pooling: str | None,
    attention: str,
    max_seq_length: int | None = None,
    prefix: str | None = None,
    device: str | None = None,
    where: str = "student",
) -> Any:
    """The folder ``path`` as a SentenceTransformer with the student's pooling and attention
    (and, when not None, its length and prefix, as in
    :func:`mwalign.models.load.load_sentence_transformer`); ``pooling=None`` keeps the folder's."""
    config_kwargs = attention_config_kwargs(path, attention, where=f"{where}.attention")
    model = load_sentence_transformer(
        path,
        max_seq_length=max_seq_length,
        prefix=prefix,
        device=device,
        config_kwargs=config_kwargs,
    )
    if pooling is not None:
        set_pooling(model, pooling)
    log.info("loaded %s: %s pooling, %s attention", path, pooling or "its own", attention)
    return model
