"""The trust policy: whether transformers may run Python code shipped with a model.

A leaf module (it imports nothing of the project), so that the config checks, the
planning module and every stage ask the same question the same way.
"""

from __future__ import annotations

from typing import Any


def remote_code_allowed(config: dict[str, Any], model_id: str) -> bool:
    """True only when ``config.trust_remote_code`` names ``model_id`` (or its {lang} template).

    ``config`` is a validated config. The one place that decides whether transformers
    may run code shipped with a model; every rule that loads a model gets the answer
    through :func:`mwalign.models.params.fetch_params` and the model folder's record.
    """
    listed = config["trust_remote_code"]
    if model_id in listed:
        return True
    return any(
        "{lang}" in entry and entry.replace("{lang}", code) == model_id
        for entry in listed
        for code in config["languages"]
    )
