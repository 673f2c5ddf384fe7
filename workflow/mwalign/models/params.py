"""Rule fetch_model's params: which folders it makes, and what each one holds.

Every model the config loads gets one folder (:mod:`mwalign.models.ids`): the teacher,
each student, the similarity check's encoder (the first student's, or one of its own),
each language's translator. The trust decision of each comes from the config's
``trust_remote_code`` list (:func:`mwalign.trust.remote_code_allowed`).

Example: ``fetch_params(config, "intfloat--multilingual-e5-small")`` is
``{"model_id": "intfloat/multilingual-e5-small", "kind": "encoder", "gguf_file": None,
"allow_remote_code": False}``.
"""

from __future__ import annotations

from typing import Any

from mwalign.models.ids import model_slug, translator_slug
from mwalign.translate.params import similarity_params, translator_model
from mwalign.trust import remote_code_allowed


def _fetch_table(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Slug -> what fetch_model makes: encoders (teacher, students), then each translator."""
    ids = [config["teacher"]["model"], *(s["model"] for s in config["students"].values())]
    similarity = similarity_params(config)
    if similarity is not None:
        ids.append(similarity["model"])  # the first student's, or an encoder of its own
    table = {
        model_slug(model_id): {"model_id": model_id, "kind": "encoder", "gguf_file": None}
        for model_id in ids
    }
    for lang in config["languages"]:
        translator = translator_model(config, lang)
        if translator is not None:
            model_id, gguf_file = translator
            entry = {"model_id": model_id, "kind": "translator", "gguf_file": gguf_file}
            table[translator_slug(model_id, gguf_file)] = entry
    return table


def model_ids(config: dict[str, Any]) -> dict[str, str]:
    """Slug -> model id of every model the fetch_model rule materialises, translators too."""
    return {slug: entry["model_id"] for slug, entry in _fetch_table(config).items()}


def fetch_params(config: dict[str, Any], slug: str) -> dict[str, Any]:
    """The fetch_model rule's params for one model folder: id, kind, GGUF file, trust."""
    entry = _fetch_table(config)[slug]
    return {**entry, "allow_remote_code": remote_code_allowed(config, entry["model_id"])}
