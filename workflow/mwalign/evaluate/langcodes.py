"""Language codes between config (ISO 639-1), mteb (ISO 639-3 + script) and result tags.

mteb names languages ``deu-Latn`` and subsets after its datasets (``deu-eng``,
``cmn-eng``, ``eng_Latn-deu_Latn``); config and the report use the ISO 639-1 codes
of :mod:`mwalign.languages`. Macro-language codes that datasets use interchangeably
(``ara``/``arb``, ``zho``/``cmn``) map to the same config code, and so do the codes
individual datasets use for a language in their own way: MASSIVE writes Mandarin as
``cmo-Hans`` (ISO 639-3 ``cmo`` is Central Mnong, which is never written in Han script)
and Korean as ``kor-Kore`` (ISO 15924 ``Kore`` = Hangul + Han). A language is only
matched in its own script (:data:`SCRIPT_ALIASES`), so ``cmo-Hans`` is Chinese and
``arb-Latn`` (romanised Arabic) is not Arabic.
"""

from __future__ import annotations

from mwalign.languages import LANGUAGES, language
from mwalign.paths import SOURCE_LANGUAGE

# ISO 639-3 codes that mteb datasets use besides the FLORES-200 code of a language.
ISO3_ALIASES: dict[str, tuple[str, ...]] = {
    "ar": ("ara",),
    "zh": ("cmn", "cmo"),  # cmo: MASSIVE's code for Mandarin
    "fa": ("fas", "per"),
    "sw": ("swa",),
    "tl": ("fil",),
}


# ISO 15924 scripts that mteb datasets use besides the FLORES-200 script of a language.
SCRIPT_ALIASES: dict[str, tuple[str, ...]] = {
    "ko": ("Kore",),  # Hangul + Han (MASSIVE)
    "ja": ("Jpan", "Hira", "Kana"),
}


def flores_code(code: str) -> str:
    """FLORES-200 code (``deu_Latn``) of a config language; an error if the table has none."""
    entry = language(code)
    if entry.flores is None:
        raise ValueError(f"language {code!r} has no FLORES-200 code in mwalign.languages")
    return entry.flores


def mteb_langscript(code: str) -> str:
    """mteb's ``iso639_3-Script`` form of a config language (``de`` -> ``deu-Latn``)."""
    return flores_code(code).replace("_", "-")


def iso3_codes(code: str) -> list[str]:
    """Every ISO 639-3 code a dataset may use for config language ``code``."""
    return [flores_code(code).split("_")[0], *ISO3_ALIASES.get(code, ())]


def langscripts(code: str) -> set[str]:
    """Every ``iso639_3-Script`` form under which a dataset may name config language ``code``."""
    scripts = [flores_code(code).split("_")[1], *SCRIPT_ALIASES.get(code, ())]
    return {f"{iso3}-{script}" for iso3 in iso3_codes(code) for script in scripts}


def config_code(mteb_language: str) -> str:
    """Config code of an mteb language (``deu-Latn``, ``cmn-Hans``, ``deu``); others unchanged."""
    iso3 = mteb_language.replace("_", "-").split("-")[0]
    for code in LANGUAGES:
        if LANGUAGES[code].flores and iso3 in iso3_codes(code):
            return code
    return iso3


def seen_tag(code: str, seen_languages: list[str] | set[str]) -> str:
    """``seen`` for English and a model's training languages, ``unseen`` otherwise."""
    return "seen" if code == SOURCE_LANGUAGE or code in seen_languages else "unseen"


def pair_seen_tag(codes: list[str], seen_languages: list[str] | set[str]) -> str:
    """A subset is ``seen`` only when every language in it is seen."""
    tags = {seen_tag(code, seen_languages) for code in codes}
    return "unseen" if "unseen" in tags else "seen"
