"""Rule fetch_model's checks of a config: the model ids it names, and the hub when offline.

- :func:`check_config` (every parse, from :func:`mwalign.config.validate_config`): every
  model id is a Hugging Face id or an absolute local folder; a GGUF file name stays inside
  its model folder; every ``trust_remote_code`` entry names a model of the experiment.
- :func:`check_offline` (once per run, with ``HF_HUB_OFFLINE`` set): every model is
  cached, packaged, materialised or a local folder.

Each raises :class:`mwalign.errors.ConfigError` naming the key, the value and what is
allowed. :func:`config_model_ids` lists every model id with the key it comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mwalign.errors import ConfigError
from mwalign.limits import model_config_at_hand
from mwalign.models.ids import model_dir, translator_model_dir, validate_model_id
from mwalign.models.packaged import PACKAGED_SOURCES, PACKAGED_TRANSLATORS
from mwalign.paths import SAFE_NAME


def _translator_model(config: dict[str, Any]) -> tuple[str, str] | None:
    """(config key, model id as written) of the configured translator; None for `reference`."""
    backend = config["translate"]["backend"]
    if backend not in ("transformers", "ctranslate2", "vllm"):
        return None
    return f"translate.{backend}.model", config["translate"][backend]["model"]


def config_model_ids(config: dict[str, Any]) -> dict[str, str]:
    """Every model id a validated ``config`` loads, keyed by where it appears.

    The teacher, each student, the similarity check's own encoder (if named), and the
    translator of the configured backend; a ``{lang}`` field of a translator id is filled
    in for every language.
    """
    ids = {"teacher.model": config["teacher"]["model"]}
    ids.update({f"students.{n}.model": s["model"] for n, s in config["students"].items()})
    similarity = config["translate"]["similarity"]
    if similarity["enabled"] and similarity["model"] is not None:
        ids["translate.similarity.model"] = similarity["model"]
    translator = _translator_model(config)
    if translator is not None:
        key, model = translator
        if "{lang}" in model:
            ids.update({f"{key} ({c})": model.replace("{lang}", c) for c in config["languages"]})
        else:
            ids[key] = model
    return ids


def check_config(config: dict[str, Any]) -> None:
    """Model ids are Hugging Face ids or absolute local folders, never paths out or shell text."""
    for key, model_id in config_model_ids(config).items():
        try:
            validate_model_id(model_id)
        except ValueError as err:
            raise ConfigError(f"config.{key}: {err}") from None
    gguf = config["translate"]["transformers"]["gguf_file"]
    safe = gguf is None or (all(map(SAFE_NAME.match, gguf.split("/"))) and gguf.endswith(".gguf"))
    if config["translate"]["backend"] == "transformers" and not safe:
        raise ConfigError(
            f"config.translate.transformers.gguf_file {gguf!r} is not allowed; use a "
            "'.gguf' file inside the model folder: names of letters, digits, '.', '_', '-' "
            "(each starting with a letter or digit), folders separated by '/'"
        )
    check_remote_code(config)


def check_remote_code(config: dict[str, Any]) -> None:
    """Each entry of ``trust_remote_code`` must name a model that the experiment loads."""
    used = config_model_ids(config)
    allowed = set(used.values())
    translator = _translator_model(config)
    if translator is not None:
        allowed.add(translator[1])  # a {lang} template as written
    for entry in config["trust_remote_code"]:
        if entry not in allowed:
            raise ConfigError(
                f"config.trust_remote_code lists {entry!r}, which is not a model of this "
                f"experiment; allowed: {sorted(allowed)} (from {', '.join(sorted(used))})"
            )


def model_available_offline(model_id: str) -> bool:
    """Whether ``model_id`` can be materialised without the hub: a packaged source, a local
    folder, a folder already materialised, or its config in the Hugging Face cache."""
    if model_id in PACKAGED_SOURCES or model_id in PACKAGED_TRANSLATORS:
        return True
    translator = Path(translator_model_dir(model_id))
    if model_id.startswith("/") or Path(model_dir(model_id)).is_dir() or translator.is_dir():
        return True
    return model_config_at_hand(model_id) is not None


def check_offline(config: dict[str, Any], *, hint: str) -> None:
    """With HF_HUB_OFFLINE set: every model the config names can be had without the hub."""
    for key, model_id in config_model_ids(config).items():
        if not model_available_offline(model_id):
            raise ConfigError(
                f"config.{key} {model_id!r} is not in the local cache, has no packaged copy and "
                f"is not materialised, and HF_HUB_OFFLINE is set; {hint} use a local folder or "
                "a model with a packaged copy"
            )
