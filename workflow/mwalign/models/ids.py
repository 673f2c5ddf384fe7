"""Model ids and the folder names they get.

A model id from the config is a Hugging Face id (``name`` or ``owner/name``) or an
absolute local folder. :func:`validate_model_id` says which ids are allowed;
:func:`model_slug` and :func:`translator_slug` turn an id into the name of its folder
under ``resources/models/`` (:data:`mwalign.paths.MODELS_DIR`), and :func:`model_dir` and
:func:`translator_model_dir` give that folder's path, the one rule fetch_model makes.

Example::

    model_slug("intfloat/multilingual-e5-small")  # "intfloat--multilingual-e5-small"
    translator_slug("google/gemma-3-270m")         # "google--gemma-3-270m--translator"
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from mwalign.paths import MODELS_DIR

HF_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
SHELL_CHARS = set(";&|$`<>()[]{}*?!~#'\"\\") | {" ", "\t", "\n", "\r"}
TRANSLATOR_SUFFIX = "--translator"


def validate_model_id(model_id: str) -> None:
    """Raise ValueError unless ``model_id`` is a Hugging Face id or an absolute local folder.

    Allowed: ``name`` or ``owner/name`` made of letters, digits, ``._-`` (each part starting
    with a letter or digit, no ``..`` or ``--``), or an existing absolute directory whose
    path has no ``..`` parts, whitespace or shell metacharacters.
    """
    if not isinstance(model_id, str) or not model_id:
        raise ValueError(f"model id {model_id!r} is empty or not a string")
    if model_id.startswith("/"):
        bad = sorted(set(model_id) & SHELL_CHARS)
        if bad or ".." in Path(model_id).parts:
            raise ValueError(
                f"local model path {model_id!r} contains {bad or ['..']}; allowed: an absolute "
                "path without '..', whitespace or shell metacharacters"
            )
        if not Path(model_id).is_dir():
            raise ValueError(f"local model path {model_id!r} is not an existing directory")
        return
    if not HF_ID_RE.fullmatch(model_id) or ".." in model_id or "--" in model_id:
        raise ValueError(
            f"model id {model_id!r} is not allowed; expected a Hugging Face id 'owner/name' "
            "(letters, digits, '._-'; no '..' or '--') or an absolute local directory"
        )


def model_slug(model_id: str) -> str:
    """Filesystem-safe unique folder name: ``owner/name`` -> ``owner--name``.

    Local paths become ``local--<folder name>-<10 hex digits of the path's sha256>``.
    Hub ids never contain ``--``, so slugs of different ids never collide.
    """
    validate_model_id(model_id)
    if model_id.startswith("/"):
        digest = hashlib.sha256(model_id.encode()).hexdigest()[:10]
        name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(model_id).name) or "root"
        return f"local--{name}-{digest}"
    return model_id.replace("/", "--")


def translator_slug(model_id: str, gguf_file: str | None = None) -> str:
    """Folder name of a translator: ``{model_slug}--translator`` (``-{gguf}`` when one is set).

    Never the slug of an encoder: no model id contains ``--``, so the suffix cannot be
    part of one. A GGUF file name keeps its letters, digits and ``._-`` (``/`` -> ``_``)
    and gets 8 hex digits of its sha256, so two files never share a folder.
    """
    base = f"{model_slug(model_id)}{TRANSLATOR_SUFFIX}"
    if gguf_file is None:
        return base
    digest = hashlib.sha256(gguf_file.encode()).hexdigest()[:8]
    return f"{base}-{re.sub(r'[^A-Za-z0-9._-]', '_', gguf_file)}-{digest}"


def model_dir(model_id: str) -> str:
    """Folder that the fetch_model rule materialises ``model_id`` into (an encoder)."""
    return f"{MODELS_DIR}/{model_slug(model_id)}"


def translator_model_dir(model_id: str, gguf_file: str | None = None) -> str:
    """Folder that the fetch_model rule materialises translator ``model_id`` into."""
    return f"{MODELS_DIR}/{translator_slug(model_id, gguf_file)}"
