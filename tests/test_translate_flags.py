"""Quality flags of translated rows and the prompt/language tables they rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import translate_section
from mwalign.languages import LANGUAGES
from mwalign.translate import prompts
from mwalign.translate.flags import SCRIPT_PREFIXES, row_flags, script_fraction
from mwalign.translate.params import translate_params

FLAGS = translate_params(translate_section({}, ["de"]), "de")["flags"]
SOURCE = "In the beginning God created the heavens and the earth."


def flags(text: str, lang: str = "de", source: str = SOURCE) -> set[str]:
    cfg = translate_params(translate_section({}, [lang]), lang)["flags"]
    return {name for name, value in row_flags(source, text, lang, cfg).items() if value}


def test_a_good_translation_has_no_flag():
    assert flags("Im Anfang schuf Gott die Himmel und die Erde.") == set()
    assert flags("起初，神创造天地。", "zh") == set()
    assert flags("في البدء خلق الله السماوات والأرض.", "ar") == set()


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("", "de", {"flag_empty"}),
        ("   ", "de", {"flag_empty"}),
        ("in the beginning God created  the heavens and the EARTH.", "de", {"flag_copy"}),
        ("Im Anfang.", "de", {"flag_length_ratio"}),
        ("In the beginning God created the heavens and the earth, said he.", "zh", {"flag_script"}),
        ("Im Anfang schuf Gott die Himmel und die Erde.", "ar", {"flag_script"}),
        ("Im Anfang schuf Gott Gott Gott Gott Gott Gott die Erde.", "de", {"flag_repetition"}),
        ("起初起初起初起初起初起初", "zh", {"flag_repetition"}),
    ],
)
def test_each_flag_fires_on_its_failure(text, lang, expected):
    assert flags(text, lang) == expected


def test_repetition_already_in_the_source_is_not_flagged():
    source = "holy holy holy holy holy is the Lord of hosts, the whole earth is full of his glory."
    text = "heilig heilig heilig heilig heilig ist der Herr Zebaoth, alle Lande sind voll."
    assert "flag_repetition" in flags(text)
    assert "flag_repetition" not in flags(text, source=source)


def test_short_sources_skip_the_length_ratio():
    assert flags("Und Gott sah es.", source="God saw it.") == set()


def test_every_language_script_has_a_check():
    assert {lang.script for lang in LANGUAGES.values()} <= set(SCRIPT_PREFIXES)
    assert script_fraction("Привет, мир", "Cyrillic") == 1.0
    assert script_fraction("1234", "Latin") is None
    assert script_fraction("東京へようこそ", "Japanese") == 1.0


def test_fewshot_prompts_name_both_languages_and_the_examples():
    prompt = prompts.render("fewshot", "Good morning.", "de")
    assert prompt.endswith("English: Good morning.\nGerman:")
    assert "Das Wetter ist heute sehr schön." in prompt
    assert prompts.render("seed-x", "Hi.", "zh").endswith("Hi. <zh>")
    custom = prompts.render("{source_lang} to {target_lang}: {text}", "Hi.", "ru")
    assert custom == "English to Russian: Hi."
    with pytest.raises(ValueError, match="unknown prompt template 'gemma'"):
        prompts.render("gemma", "Hi.", "de")
    assert prompts.cut_at_stop(" Guten Morgen.\nEnglish: x", ("\n",)) == "Guten Morgen."


def _transformers_constant(module: str, name: str):
    """A literal constant of a transformers module, read without importing it (the M2M100
    tokenizer module imports sentencepiece, which the project does not need)."""
    import ast
    import importlib.util

    source = Path(importlib.util.find_spec(module).origin).read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise LookupError(f"{name} not in {module}")


def test_every_language_code_is_one_the_models_know():
    nllb = set(_transformers_constant("transformers.models.nllb.tokenization_nllb",
                                      "FAIRSEQ_LANGUAGE_CODES"))  # fmt: skip
    m2m = set(_transformers_constant("transformers.models.m2m_100.tokenization_m2m_100",
                                     "FAIRSEQ_LANGUAGE_CODES")["m2m100"])  # fmt: skip
    for lang in LANGUAGES.values():
        assert lang.flores is None or lang.flores in nllb, lang
        assert lang.m2m is None or lang.m2m in m2m, lang


CONFIGURED = ["ar", "de", "es", "hi", "ru", "zh"]  # config.yaml languages
UNSEEN = ["fr", "pt", "it", "ja", "ko", "tr", "vi", "id", "pl", "sw"]  # evaluate.unseen_languages


@pytest.mark.parametrize(
    "cfg",
    [
        {"backend": "reference"},
        {"backend": "transformers", "transformers": {"model": "facebook/nllb-200-distilled-600M"}},
        {"backend": "transformers", "transformers": {"model": "facebook/m2m100_418M"}},
        {"backend": "transformers", "transformers": {"model": "x/llm", "prompt": "fewshot"}},
        {"backend": "vllm", "vllm": {"prompt": "seed-x"}},
        {"backend": "vllm", "vllm": {"prompt": "instruct"}},
    ],
)
def test_every_configured_language_maps_for_each_backend(cfg):
    filled = translate_section(cfg, CONFIGURED)
    backend = cfg["backend"]
    if backend != "transformers" or cfg[backend].get("prompt") != "fewshot":
        translate_section(cfg, UNSEEN)  # few-shot examples cover only some languages
    for lang in CONFIGURED:
        settings = translate_params(filled, lang)[backend]
        if backend == "reference":
            assert settings["edition"] == LANGUAGES[lang].bible


def test_a_language_without_a_model_code_is_refused(monkeypatch):
    import dataclasses

    monkeypatch.setitem(LANGUAGES, "tl", dataclasses.replace(LANGUAGES["tl"], flores=None))
    cfg = {"backend": "transformers", "transformers": {"model": "facebook/nllb-200-1.3B"}}
    with pytest.raises(ValueError, match="nllb-200-1.3B' \\(nllb\\) cannot produce language 'tl'"):
        translate_section(cfg, ["de", "tl"])
