"""The translate stage's slice of the config: the per-language params and cross-field checks.

Every key of the ``translate`` section, with its default, allowed values and bounds, is
declared in mwalign/schemas/translate.schema.yaml; the functions here take the section
as :func:`mwalign.config.validate_config` filled it in.
"""

from __future__ import annotations

import copy

from mwalign.languages import language
from mwalign.translate import prompts


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


def _check_flags(flags: dict) -> None:
    bounds = {"translate.flags.length_ratio": flags["length_ratio"]}
    for lang, pair in flags["length_ratio_by_language"].items():
        bounds[f"translate.flags.length_ratio_by_language.{lang}"] = pair
    for where, pair in bounds.items():
        if not pair[0] < pair[1]:
            raise ValueError(f"{where} is {pair!r}; allowed: [low, high] with 0 <= low < high")


def _check_reference(settings: dict, languages: list[str]) -> None:
    from mwalign import bible

    for lang in languages:
        edition = reference_edition(settings, lang)
        if edition is None:
            raise ValueError(
                f"no reference edition for language {lang!r}: set "
                f"translate.reference.editions.{lang} to one of the Bible editions "
                f"{', '.join(bible.editions())}"
            )
        bible.check_edition(edition)


def _check_transformers(settings: dict, languages: list[str]) -> None:
    _check_languages(settings, languages, "translate.transformers")


def _check_languages(settings: dict, languages: list[str], where: str) -> None:
    """Every language has a code of the model's family (or a prompt); Marian pairs."""
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


def _check_ctranslate2(settings: dict, languages: list[str]) -> None:
    """A seq2seq family (the id names one, or ``family`` does), then the transformers checks."""
    where = "translate.ctranslate2"
    if model_family(settings) == "causal":
        raise ValueError(
            f"{where}.model {settings['model']!r} is not a known NLLB-200, M2M100 or Marian "
            "model; set translate.ctranslate2.family to nllb, m2m100 or marian (causal LMs: "
            "use the transformers or vllm backend)"
        )
    _check_languages(settings, languages, where)


def _check_vllm(settings: dict, languages: list[str]) -> None:
    for lang in languages:
        prompts.check_template(settings["prompt"], lang)


def check_translate_config(translate_cfg: dict, languages: list[str]) -> None:
    """Cross-field checks of the filled ``translate`` section; ValueError names the bad value."""
    cfg = translate_cfg
    _check_flags(cfg["flags"])
    checks = {
        "reference": _check_reference,
        "transformers": _check_transformers,
        "ctranslate2": _check_ctranslate2,
        "vllm": _check_vllm,
    }
    checks[cfg["backend"]](cfg[cfg["backend"]], languages)


def shard_count(corpus_size: int, shard_size: int) -> int:
    """Number of translation shards of a corpus of ``corpus_size`` rows (at least one)."""
    return max(1, -(-corpus_size // shard_size))
