"""Settings of the translate stage: defaults, the per-language slice, validation.

The ``translate`` section of the config is described key by key (with the same
defaults) in workflow/schemas/translate.schema.yaml.
"""

from __future__ import annotations

import copy
from typing import Any

from mwalign.languages import LANGUAGES, language
from mwalign.translate import prompts

BACKENDS = ("reference", "transformers", "vllm")
FAMILIES = ("auto", "nllb", "m2m100", "marian", "causal")
DTYPES = ("auto", "float32", "bfloat16", "float16")
TOO_LONG = ("truncate", "skip")
REFERENCE_CORPORA = ("bible",)

DEFAULTS: dict[str, Any] = {
    "backend": "reference",
    "shard_size": 1000,
    "flags": {
        "length_ratio": [0.3, 3.0],
        "length_ratio_by_language": {"zh": [0.1, 1.2], "ja": [0.12, 1.5], "ko": [0.12, 1.5]},
        "min_source_chars": 20,
        "min_script_fraction": 0.5,
        "repetition_min_repeats": 4,
        "repetition_max_unit_chars": 40,
    },
    "reference": {"corpus": "bible", "editions": {}},
    "transformers": {
        "model": "facebook/nllb-200-distilled-600M",
        "family": "auto",
        "gguf_file": None,
        "prompt": "fewshot",
        "dtype": "auto",
        "num_beams": 1,
        "token_budget": 8192,
        "max_batch_size": 64,
        "sort_by_length": True,
        "max_source_tokens": 256,
        "too_long": "truncate",
        "max_new_tokens_ratio": 2.0,
        "max_new_tokens_extra": 16,
    },
    "vllm": {
        "model": "ByteDance-Seed/Seed-X-PPO-7B",
        "prompt": "seed-x",
        "chat": None,
        "stop": None,
        "dtype": "auto",
        "tensor_parallel_size": 1,
        "max_model_len": 2048,
        "gpu_memory_utilization": 0.9,
        "enforce_eager": False,
        "chunk_size": 1024,
        "max_source_tokens": 512,
        "too_long": "truncate",
        "max_tokens_ratio": 2.0,
        "max_tokens_extra": 16,
    },
}


def _merge(defaults: dict, given: dict) -> dict:
    """``given`` over ``defaults``, recursively for nested dicts that both have."""
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def with_defaults(translate_cfg: dict) -> dict:
    """The ``translate`` config with every missing key set to its default."""
    return _merge(DEFAULTS, translate_cfg or {})


def model_family(settings: dict) -> str:
    """The transformers model family: ``settings['family']`` or guessed from the model id."""
    family = settings["family"]
    if family != "auto":
        return family
    name = settings["model"].lower()
    if settings.get("gguf_file"):
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
    elif backend == "transformers":
        settings["model"] = settings["model"].replace("{lang}", lang)
        settings["family"] = model_family(settings)
        if settings["family"] != "causal":
            del settings["prompt"]  # seq2seq models take no prompt: changing it reruns nothing
    return settings


def translate_params(translate_cfg: dict, lang: str) -> dict:
    """Exactly the config a translation shard of ``lang`` depends on.

    The backend name, that backend's settings (resolved for ``lang``: its reference
    edition, its Marian model), the quality-flag settings with ``lang``'s length-ratio
    bounds, and the shard size. Pass it as a rule's params so that a change elsewhere
    (another backend's settings, another language's entry) reruns nothing.
    """
    cfg = with_defaults(translate_cfg)
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


def translate_job_params(config: dict, lang: str) -> dict:
    """:func:`translate_params` of a whole validated config, for the translate rule.

    A translator the config's ``trust_remote_code`` list names gets
    ``trust_remote_code: true`` in its settings (so allowing it reruns its shards); every
    other model loads with remote code off.
    """
    from mwalign.config import remote_code_allowed

    params = translate_params(config["translate"], lang)
    settings = params[params["backend"]]
    if "model" in settings and remote_code_allowed(config, settings["model"]):
        settings["trust_remote_code"] = True
    return params


def _choice(value: Any, allowed: tuple, where: str) -> None:
    if value not in allowed:
        raise ValueError(f"{where} is {value!r}; allowed: {', '.join(map(str, allowed))}")


def _check_flags(flags: dict) -> None:
    bounds = {"translate.flags.length_ratio": flags["length_ratio"]}
    for lang, pair in flags["length_ratio_by_language"].items():
        bounds[f"translate.flags.length_ratio_by_language.{lang}"] = pair
    for where, pair in bounds.items():
        if len(pair) != 2 or not 0 <= pair[0] < pair[1]:
            raise ValueError(f"{where} is {pair!r}; allowed: [low, high] with 0 <= low < high")
    if not 0 <= flags["min_script_fraction"] <= 1:
        raise ValueError(
            f"translate.flags.min_script_fraction is {flags['min_script_fraction']!r}; "
            "allowed: a number in [0, 1]"
        )
    if flags["repetition_min_repeats"] < 2 or flags["repetition_max_unit_chars"] < 2:
        raise ValueError(
            "translate.flags.repetition_min_repeats and repetition_max_unit_chars must be >= 2; "
            f"got {flags['repetition_min_repeats']!r} and {flags['repetition_max_unit_chars']!r}"
        )


def _check_reference(settings: dict, languages: list[str]) -> None:
    from mwalign import bible

    _choice(settings["corpus"], REFERENCE_CORPORA, "translate.reference.corpus")
    for lang in languages:
        edition = reference_edition(settings, lang)
        if edition is None:
            raise ValueError(
                f"no reference edition for language {lang!r}: set "
                f"translate.reference.editions.{lang} to one of the Bible editions "
                f"{', '.join(bible.editions())}"
            )
        bible.check_edition(edition)


def _check_model_settings(settings: dict, where: str) -> None:
    _choice(settings["dtype"], DTYPES, f"{where}.dtype")
    _choice(settings["too_long"], TOO_LONG, f"{where}.too_long")
    if settings["max_source_tokens"] < 1:
        raise ValueError(
            f"{where}.max_source_tokens is {settings['max_source_tokens']!r}; allowed: >= 1"
        )


def _check_transformers(settings: dict, languages: list[str]) -> None:
    where = "translate.transformers"
    _choice(settings["family"], FAMILIES, f"{where}.family")
    _check_model_settings(settings, where)
    family = model_family(settings)
    for lang in languages:
        if family in ("nllb", "m2m100"):
            column = "flores" if family == "nllb" else "m2m"
            if getattr(language(lang), column) is None:
                raise ValueError(
                    f"model {settings['model']!r} ({family}) cannot produce language {lang!r}: "
                    f"it has no {family} code in mwalign.languages"
                )
        elif family == "causal":
            prompts.check_template(settings["prompt"], lang)
    if family == "marian" and len(languages) > 1 and "{lang}" not in settings["model"]:
        raise ValueError(
            f"{where}.model {settings['model']!r} is one Marian language pair but "
            f"{len(languages)} languages are configured; name the model with a {{lang}} field, "
            "e.g. Helsinki-NLP/opus-mt-en-{lang}"
        )
    for key in ("token_budget", "max_batch_size", "num_beams"):
        if settings[key] < 1:
            raise ValueError(f"{where}.{key} is {settings[key]!r}; allowed: >= 1")


def _check_vllm(settings: dict, languages: list[str]) -> None:
    where = "translate.vllm"
    _check_model_settings(settings, where)
    for lang in languages:
        prompts.check_template(settings["prompt"], lang)
    for key in ("tensor_parallel_size", "chunk_size", "max_model_len"):
        if settings[key] < 1:
            raise ValueError(f"{where}.{key} is {settings[key]!r}; allowed: >= 1")


def check_translate_config(translate_cfg: dict, languages: list[str]) -> None:
    """Raise ValueError naming the first bad value of the translate config and what is allowed."""
    cfg = with_defaults(translate_cfg)
    _choice(cfg["backend"], BACKENDS, "translate.backend")
    for lang in languages:
        if lang not in LANGUAGES:
            language(lang)  # raises, naming the known codes
    if not isinstance(cfg["shard_size"], int) or cfg["shard_size"] < 1:
        raise ValueError(f"translate.shard_size is {cfg['shard_size']!r}; allowed: an integer >= 1")
    _check_flags(cfg["flags"])
    checks = {
        "reference": _check_reference,
        "transformers": _check_transformers,
        "vllm": _check_vllm,
    }
    checks[cfg["backend"]](cfg[cfg["backend"]], languages)


def shard_count(corpus_size: int, shard_size: int) -> int:
    """Number of translation shards of a corpus of ``corpus_size`` rows (at least one)."""
    return max(1, -(-corpus_size // shard_size))
