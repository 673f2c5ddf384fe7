"""The translate stage's checks of a config (every parse, from
:func:`mwalign.config.validate_config`).

:func:`check_config`: the similarity check has an encoder; the reference backend gets
Bible verses to look up; the quality flags' bounds are ordered; and the configured
backend can produce every language (a reference edition, a model-family language code,
a prompt, one Marian model per pair). Each raises ValueError naming the key, the value
and what is allowed.
"""

from __future__ import annotations

from typing import Any

from mwalign import bible
from mwalign.languages import language
from mwalign.sample.corpus import FILE_FORMATS
from mwalign.translate import prompts
from mwalign.translate.params import model_family, reference_edition


def check_config(config: dict[str, Any]) -> None:
    """The translate section and what it needs of the rest of the config."""
    check_similarity(config)
    check_reference_corpus(config)
    check_section(config["translate"], config["languages"])


def check_similarity(config: dict[str, Any]) -> None:
    """The similarity check needs an encoder: its own model, or a student to default to."""
    settings = config["translate"]["similarity"]
    if settings["enabled"] and settings["model"] is None and not config["students"]:
        raise ValueError(
            "config.translate.similarity.enabled is true but translate.similarity.model is "
            "null and no student is configured; name an encoder in translate.similarity.model"
        )


def check_reference_corpus(config: dict[str, Any]) -> None:
    """The reference backend looks up Bible verses: the corpus must be the packaged Bible."""
    corpus = config["corpus"]
    backend = config["translate"]["backend"]
    if backend == "reference" and corpus["source"] != "bible":
        raise ValueError(
            f"config.translate.backend 'reference' looks up the human translation of each Bible "
            f"verse, but config.corpus.source is {corpus['source']!r}; allowed: corpus.source "
            "'bible' with backend 'reference', or backend 'transformers' or 'vllm' for "
            f"{'/'.join(FILE_FORMATS)} files and Hugging Face datasets"
        )


def _check_flags(flags: dict) -> None:
    bounds = {"translate.flags.length_ratio": flags["length_ratio"]}
    for lang, pair in flags["length_ratio_by_language"].items():
        bounds[f"translate.flags.length_ratio_by_language.{lang}"] = pair
    for where, pair in bounds.items():
        if not pair[0] < pair[1]:
            raise ValueError(f"{where} is {pair!r}; allowed: [low, high] with 0 <= low < high")


def _check_reference(settings: dict, languages: list[str]) -> None:
    for lang in languages:
        edition = reference_edition(settings, lang)
        if edition is None:
            raise ValueError(
                f"no reference edition for language {lang!r}: set "
                f"translate.reference.editions.{lang} to one of the Bible editions "
                f"{', '.join(bible.editions())}"
            )
        bible.check_edition(edition, key=f"translate.reference.editions.{lang}", lang=lang)


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


def check_section(translate_cfg: dict, languages: list[str]) -> None:
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
