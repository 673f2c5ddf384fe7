"""The translate stage's params: what each translation, similarity and conversion job
depends on.

Every key of the ``translate`` section, with its default, allowed values and bounds, is
declared in mwalign/schemas/translate.schema.yaml; the functions here take the config as
:func:`mwalign.config.validate_config` filled it in.

- :func:`translate_params` / :func:`translate_job_params`: the translate rule's slice of
  one language (backend, its settings resolved for the language, flags, shard size);
- :func:`similarity_params`: the similarity rule's slice (encoder, prefix, batch, loading);
- :func:`ctranslate2_models`, :func:`convert_params`, :func:`translator_dir`: the
  convert_ctranslate2 rule's translators and the folders the shards read;
- :func:`translator_model` and :func:`fetched_translator_dir`: the translator model each
  language needs from rule fetch_model.
"""

from __future__ import annotations

import copy
from typing import Any

from mwalign.languages import language
from mwalign.models.ids import model_slug, translator_model_dir
from mwalign.translate.convert import converted_dir
from mwalign.trust import remote_code_allowed


def model_family(settings: dict) -> str:
    """The transformers model family: ``settings['family']`` or guessed from the model id."""
    family = settings["family"]
    if family != "auto":
        return family
    name = settings["model"].lower()
    if "gguf_file" in settings and settings["gguf_file"]:  # ctranslate2 has no such key
        return "causal"
    for marker, guess in (("nllb", "nllb"), ("m2m100", "m2m100"), ("opus-mt", "marian")):
        if marker in name:
            return guess
    return "causal"


def reference_edition(settings: dict, lang: str) -> str | None:
    """The Bible edition of ``lang``: config's ``editions`` entry, else the language table's."""
    return settings["editions"].get(lang) or language(lang).bible


def _language_slice(cfg: dict, lang: str) -> dict:
    backend = cfg["backend"]
    settings = copy.deepcopy(cfg[backend])
    if backend == "reference":
        settings["edition"] = reference_edition(settings, lang)
        del settings["editions"]
    elif backend in ("transformers", "ctranslate2"):
        settings["model"] = settings["model"].replace("{lang}", lang)
        settings["family"] = model_family(settings)
        if settings["family"] != "causal" and "prompt" in settings:
            del settings["prompt"]  # seq2seq models take no prompt: changing it reruns nothing
    return settings


def translate_params(translate_cfg: dict, lang: str) -> dict:
    """Exactly the config a translation shard of ``lang`` depends on.

    The backend name, that backend's settings (resolved for ``lang``: its reference
    edition, its Marian model), the quality-flag settings with ``lang``'s length-ratio
    bounds, and the shard size. Pass it as a rule's params so that a change elsewhere
    (another backend's settings, another language's entry) reruns nothing.
    """
    cfg = translate_cfg
    flags = copy.deepcopy(cfg["flags"])
    by_language = flags.pop("length_ratio_by_language")
    flags["length_ratio"] = list(by_language.get(lang, flags["length_ratio"]))
    backend = cfg["backend"]
    return {
        "language": lang,
        "backend": backend,
        "shard_size": cfg["shard_size"],
        "flags": flags,
        backend: _language_slice(cfg, lang),
    }


def shard_count(corpus_size: int, shard_size: int) -> int:
    """Number of translation shards of a corpus of ``corpus_size`` rows (at least one)."""
    return max(1, -(-corpus_size // shard_size))


def translate_job_params(config: dict[str, Any], lang: str) -> dict[str, Any]:
    """:func:`translate_params` of ``lang``, for the translate rule.

    A translator the config's ``trust_remote_code`` list names gets
    ``trust_remote_code: true`` in its settings (so allowing it reruns its shards); every
    other model loads with remote code off.
    """
    params = translate_params(config["translate"], lang)
    settings = params[params["backend"]]
    if "model" in settings and remote_code_allowed(config, settings["model"]):
        settings["trust_remote_code"] = True
    return params


def ctranslate2_models(config: dict[str, Any]) -> dict[str, str]:
    """Slug -> id of every translator rule convert_ctranslate2 converts (one per Marian pair).

    Empty unless ``translate.backend`` is ctranslate2.
    """
    if config["translate"]["backend"] != "ctranslate2":
        return {}
    models = {
        translate_job_params(config, lang)["ctranslate2"]["model"] for lang in config["languages"]
    }
    return {model_slug(model): model for model in sorted(models)}


def translator_dir(config: dict[str, Any], lang: str) -> str:
    """The converted (CTranslate2) translator folder that the shards of ``lang`` read."""
    return converted_dir(translate_job_params(config, lang)["ctranslate2"]["model"])


def convert_params(config: dict[str, Any], slug: str) -> dict[str, Any]:
    """The convert_ctranslate2 rule's params for one translator: its id and its input, the
    folder fetch_model made (which records the trust decision)."""
    model_id = ctranslate2_models(config)[slug]
    return {"model_id": model_id, "model_dir": translator_model_dir(model_id)}


def similarity_params(config: dict[str, Any]) -> dict[str, Any] | None:
    """What a shard's similarity scores depend on (encoder, prefix, batch, and how the
    encoder is loaded); None when off.

    ``model: null`` is the first student's model, loaded as that student (length, pooling,
    attention), with its prefix unless ``prefix`` is set; a named model is loaded as its
    folder saved it, with no prefix unless ``prefix`` is set.
    """
    settings = config["translate"]["similarity"]
    if not settings["enabled"]:
        return None
    model, prefix = settings["model"], settings["prefix"]
    # a named encoder keeps its folder's length and pooling
    loading = {"student": None, "max_seq_length": None, "pooling": None, "attention": "pretrained"}
    if model is None:
        name, student = next(iter(config["students"].items()))
        model = student["model"]
        prefix = student["prefix"] if prefix is None else prefix
        loading = {
            "student": name,
            "max_seq_length": student["max_seq_length"],
            "pooling": student["pooling"],
            "attention": student["attention"],
        }
    return {
        "model": model,
        "prefix": prefix or "",
        "batch_size": settings["batch_size"],
        **loading,
    }


def translator_model(config: dict[str, Any], lang: str) -> tuple[str, str | None] | None:
    """(model id, GGUF file) of ``lang``'s translator; None for the reference backend."""
    backend = config["translate"]["backend"]
    if backend == "reference":
        return None
    settings = config["translate"][backend]
    gguf_file = settings["gguf_file"] if backend == "transformers" else None
    return settings["model"].replace("{lang}", lang), gguf_file


def fetched_translator_dir(config: dict[str, Any], lang: str) -> str | None:
    """Folder the fetch_model rule materialises ``lang``'s translator into (None: no model)."""
    translator = translator_model(config, lang)
    if translator is None:
        return None
    return translator_model_dir(*translator)
