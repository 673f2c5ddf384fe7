"""Loading a model folder, and the student settings that travel with it.

A student's input prefix and truncation length are sentence-transformers settings:
:func:`apply_student_settings` makes the prefix the model's default prompt and sets its
``max_seq_length``, so that a saved folder embeds exactly as training and evaluation
did; :func:`saved_student_settings` reads them back from a folder's config files without
loading the weights. :func:`load_sentence_transformer` loads a materialised (or trained)
folder from local files only, after checking its weights (:mod:`mwalign.models.integrity`)
and following its trust decision. A student's pooling and attention mode are applied on
top of this by :mod:`mwalign.students`.

Example::

    model = load_sentence_transformer(folder, prefix="query: ", max_seq_length=128)
    model.encode(["a sentence"])  # encodes "query: a sentence", at most 128 tokens
"""

from __future__ import annotations

import os
from pathlib import Path

from mwalign.files import read_json
from mwalign.models.integrity import INFO_FILE, read_model_info, verify_model_folder

# Name of the prompt that holds a student's input prefix when no saved prompt has its text.
STUDENT_PROMPT = "query"


def apply_student_settings(model, *, prefix: str, max_seq_length: int) -> None:
    """Make ``model.encode`` truncate at ``max_seq_length`` and put ``prefix`` before every input.

    The prefix becomes the model's default prompt (``prompts`` / ``default_prompt_name`` of
    sentence-transformers, saved with the model), named like a saved prompt with the same
    text, else ``STUDENT_PROMPT``. An empty prefix means no default prompt.
    """
    model.max_seq_length = max_seq_length
    if not prefix:
        model.default_prompt_name = None
        return
    same = [name for name, text in model.prompts.items() if text == prefix]
    name = same[0] if same else STUDENT_PROMPT
    model.prompts[name] = prefix
    model.default_prompt_name = name


def saved_student_settings(path: str | os.PathLike) -> dict:
    """``{"prefix", "max_seq_length"}`` that a saved sentence-transformers folder applies in
    ``encode``, read from its config files without loading the weights."""
    path = Path(path)
    st_config = path / "config_sentence_transformers.json"
    saved = read_json(st_config) if st_config.is_file() else {}
    name = saved.get("default_prompt_name")
    prefix = ((saved.get("prompts") or {}).get(name) or "") if name else ""
    # sentence-transformers < 6 saves the length in sentence_bert_config.json, 6 as the
    # tokenizer's model_max_length
    length = None
    for name in ("sentence_bert_config.json", "tokenizer_config.json"):
        if length is None and (path / name).is_file():
            saved_config = read_json(path / name)
            length = saved_config.get("max_seq_length") or saved_config.get("model_max_length")
    return {"prefix": prefix, "max_seq_length": length}


def load_sentence_transformer(
    path: str | os.PathLike,
    *,
    max_seq_length: int | None = None,
    prefix: str | None = None,
    device: str | None = None,
    config_kwargs: dict | None = None,
):
    """Load a materialised folder as a ``SentenceTransformer`` from local files only.

    The weights are first checked against the sha256 the folder records
    (:func:`mwalign.models.integrity.verify_model_folder`). ``max_seq_length`` and
    ``prefix`` (when not None) are applied with :func:`apply_student_settings`; None keeps
    the folder's own.
    Runs code from the folder only when its info says it was materialised with
    ``allow_remote_code`` (the config listed the model in ``trust_remote_code``); a folder
    without info (e.g. a trained model) never does. ``config_kwargs`` override entries of
    the transformers config as it is read (see :mod:`mwalign.students`).
    """
    from sentence_transformers import SentenceTransformer

    path = Path(path)
    if not (path / "modules.json").is_file():
        raise ValueError(f"{path} is not a sentence-transformers folder (no modules.json)")
    verify_model_folder(path)
    trust = (path / INFO_FILE).is_file() and read_model_info(path).get("trust_remote_code") is True
    model = SentenceTransformer(
        str(path),
        device=device,
        local_files_only=True,
        trust_remote_code=trust,
        config_kwargs=config_kwargs or None,
    )
    if prefix is not None:
        apply_student_settings(
            model, prefix=prefix, max_seq_length=max_seq_length or model.max_seq_length
        )
    elif max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model
