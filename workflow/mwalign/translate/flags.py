"""Quality flags of translated rows: empty, copy of the source, length ratio, script, repetition.

Every function takes plain strings, so the same checks run on any backend's output.
A row can carry several flags; the dataset stage decides whether flagged rows are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from mwalign.languages import language
from mwalign.tables import FLAG_COLUMNS

# Unicode character-name prefixes of each script named in mwalign.languages.
SCRIPT_PREFIXES: dict[str, tuple[str, ...]] = {
    "Latin": ("LATIN",),
    "Arabic": ("ARABIC",),
    "Cyrillic": ("CYRILLIC",),
    "Devanagari": ("DEVANAGARI",),
    "Han": ("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH"),
    "Japanese": ("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH", "HIRAGANA", "KATAKANA"),
    "Hangul": ("HANGUL",),
    "Bengali": ("BENGALI",),
    "Greek": ("GREEK",),
    "Hebrew": ("HEBREW",),
    "Thai": ("THAI",),
}

_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


@lru_cache(maxsize=65536)
def _letter_name(char: str) -> str | None:
    """The Unicode name of a letter (category L*), None for anything else."""
    if not unicodedata.category(char).startswith("L"):
        return None
    return unicodedata.name(char, "")


def script_fraction(text: str, script: str) -> float | None:
    """Share of the letters of ``text`` that belong to ``script``; None if it has no letters."""
    try:
        prefixes = SCRIPT_PREFIXES[script]
    except KeyError:
        known = ", ".join(sorted(SCRIPT_PREFIXES))
        raise ValueError(f"no script check for script {script!r}; known: {known}") from None
    names = [name for name in map(_letter_name, text) if name is not None]
    if not names:
        return None
    return sum(name.startswith(prefixes) for name in names) / len(names)


def is_empty(text: str) -> bool:
    return not text.strip()


def is_copy(source: str, text: str) -> bool:
    """The output equals the source up to case, Unicode form and whitespace."""
    return bool(source.strip()) and _normalise(source) == _normalise(text)


def length_ratio_out_of_bounds(
    source: str, text: str, bounds: tuple[float, float], min_source_chars: int
) -> bool:
    """len(text) / len(source) in characters lies outside ``bounds`` (sources of at least
    ``min_source_chars`` characters only; shorter ones have too noisy a ratio)."""
    source_chars = len(source.strip())
    if source_chars < min_source_chars or is_empty(text):
        return False
    ratio = len(text.strip()) / source_chars
    return not bounds[0] <= ratio <= bounds[1]


def wrong_script(text: str, script: str, min_fraction: float) -> bool:
    """Fewer than ``min_fraction`` of the letters are in ``script`` (or there are no letters)."""
    if is_empty(text):
        return False
    fraction = script_fraction(text, script)
    return fraction is None or fraction < min_fraction


@lru_cache(maxsize=64)
def _repetition_pattern(min_repeats: int, max_unit_chars: int) -> re.Pattern[str]:
    # A unit of 2..max_unit_chars characters followed by min_repeats - 1 copies of itself,
    # or one character repeated 3 * min_repeats times ("!!!!!!!!!!!!", "哈哈哈...").
    unit = rf"(.{{2,{max_unit_chars}}}?)\1{{{min_repeats - 1},}}"
    single = rf"(.)\2{{{3 * min_repeats - 1},}}"
    return re.compile(f"{unit}|{single}", re.DOTALL)


def has_runaway_repetition(source: str, text: str, min_repeats: int, max_unit_chars: int) -> bool:
    """The output repeats a unit back to back ``min_repeats`` times where the source does not."""
    pattern = _repetition_pattern(min_repeats, max_unit_chars)
    return pattern.search(text) is not None and pattern.search(source) is None


def row_flags(source: str, text: str, lang: str, flags_cfg: dict[str, Any]) -> dict[str, bool]:
    """All quality flags of one translated row (keys: mwalign.tables.FLAG_COLUMNS).

    ``flags_cfg`` is the ``flags`` entry of :func:`mwalign.translate.params.translate_params`,
    already resolved for ``lang`` (one ``length_ratio`` pair).
    """
    script = language(lang).script
    result = {
        "flag_empty": is_empty(text),
        "flag_copy": is_copy(source, text),
        "flag_length_ratio": length_ratio_out_of_bounds(
            source, text, tuple(flags_cfg["length_ratio"]), flags_cfg["min_source_chars"]
        ),
        "flag_script": wrong_script(text, script, flags_cfg["min_script_fraction"]),
        "flag_repetition": has_runaway_repetition(
            source,
            text,
            flags_cfg["repetition_min_repeats"],
            flags_cfg["repetition_max_unit_chars"],
        ),
    }
    assert tuple(result) == FLAG_COLUMNS
    return result


def flag_columns(
    sources: list[str], texts: list[str], lang: str, flags_cfg: dict[str, Any]
) -> dict[str, list[bool]]:
    """Flags of many rows, as one list per flag column."""
    columns: dict[str, list[bool]] = {name: [] for name in FLAG_COLUMNS}
    for source, text in zip(sources, texts, strict=True):
        for name, value in row_flags(source, text, lang, flags_cfg).items():
            columns[name].append(value)
    return columns
