"""The one language table: ISO 639-1 codes used in config and what each backend calls them.

Every code a config may name is a key of :data:`LANGUAGES`. Backends and tasks read
their own column of this table; a language a backend has no entry for is an error
raised before any job runs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1, as in config
    name: str  # English name, used in LLM prompts
    script: str  # dominant Unicode script: Latin, Arabic, Cyrillic, Han, Devanagari, ...
    bible: str | None  # edition code (bbName) in the packaged Bible corpus, if any
    flores: str | None  # FLORES-200 code (NLLB-200, mteb FloresBitextMining)
    m2m: str | None  # M2M100 code


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in [
        Language("en", "English", "Latin", "4", "eng_Latn", "en"),
        Language("ar", "Arabic", "Arabic", "y", "arb_Arab", "ar"),
        Language("de", "German", "Latin", "e", "deu_Latn", "de"),
        Language("es", "Spanish", "Latin", "9", "spa_Latn", "es"),
        Language("hi", "Hindi", "Devanagari", "i", "hin_Deva", "hi"),
        Language("ru", "Russian", "Cyrillic", "r", "rus_Cyrl", "ru"),
        Language("zh", "Chinese", "Han", "c", "zho_Hans", "zh"),
        Language("fr", "French", "Latin", "5", "fra_Latn", "fr"),
        Language("pt", "Portuguese", "Latin", "a", "por_Latn", "pt"),
        Language("it", "Italian", "Latin", "1", "ita_Latn", "it"),
        Language("ja", "Japanese", "Japanese", "j", "jpn_Jpan", "ja"),
        Language("ko", "Korean", "Hangul", "n", "kor_Hang", "ko"),
        Language("tr", "Turkish", "Latin", "t", "tur_Latn", "tr"),
        Language("fa", "Persian", "Arabic", "p", "pes_Arab", "fa"),
        Language("bn", "Bengali", "Bengali", "b", "ben_Beng", "bn"),
        Language("sw", "Swahili", "Latin", "h", "swh_Latn", "sw"),
        Language("uk", "Ukrainian", "Cyrillic", "8", "ukr_Cyrl", "uk"),
        Language("vi", "Vietnamese", "Latin", "7", "vie_Latn", "vi"),
        Language("id", "Indonesian", "Latin", "6", "ind_Latn", "id"),
        Language("pl", "Polish", "Latin", "z", "pol_Latn", "pl"),
        Language("ro", "Romanian", "Latin", "u", "ron_Latn", "ro"),
        Language("tl", "Tagalog", "Latin", "f", "tgl_Latn", "tl"),
        Language("nl", "Dutch", "Latin", None, "nld_Latn", "nl"),
        Language("ca", "Catalan", "Latin", None, "cat_Latn", "ca"),
        Language("cs", "Czech", "Latin", None, "ces_Latn", "cs"),
        Language("el", "Greek", "Greek", None, "ell_Grek", "el"),
        Language("he", "Hebrew", "Hebrew", None, "heb_Hebr", "he"),
        Language("th", "Thai", "Thai", None, "tha_Thai", "th"),
        Language("ur", "Urdu", "Arabic", None, "urd_Arab", "ur"),
    ]
}


def language(code: str) -> Language:
    """The table entry of ``code``; an error naming the known codes otherwise."""
    try:
        return LANGUAGES[code]
    except KeyError:
        from difflib import get_close_matches

        known = ", ".join(sorted(LANGUAGES))
        close = get_close_matches(str(code).lower(), list(LANGUAGES), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown language {code!r}{hint}; known: {known}") from None
