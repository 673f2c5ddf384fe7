"""Text clean-up shared by the sample and translate stages: one definition of a control character.

``sample`` normalises every corpus sentence with :func:`normalise`; ``translate`` passes
each source through :func:`clean_source` before it reaches a model, a safety net for
text that did not come through ``sample``'s normalisation (it leaves normalised text as
it is).
"""

from __future__ import annotations

import re
import unicodedata

# Characters that never belong in a sentence: C0 controls other than tab and newline
# (whitespace, collapsed to one space anyway), DEL and the C1 controls, and the invisible
# U+200B (zero-width space), U+2028 / U+2029 (line / paragraph separator) and U+FEFF
# (byte-order mark). Other format characters, such as the zero-width joiner, are kept:
# Indic and Arabic text needs them.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2028\u2029\ufeff]")
# Code points no tokenizer can encode: lone surrogates and unassigned code points.
UNENCODABLE_CATEGORIES = frozenset({"Cs", "Cn"})
_SPACE = re.compile(r"\s+")


def has_control(text: str) -> bool:
    """Whether ``text`` holds a :data:`CONTROL` character."""
    return CONTROL.search(text) is not None


def normalise(text: str) -> str:
    """NFC, control characters removed, whitespace collapsed, backtick apostrophes fixed."""
    text = unicodedata.normalize("NFC", text)
    text = CONTROL.sub(" ", text).replace("`", "'")
    return _SPACE.sub(" ", text).strip()


def _unusable(char: str) -> bool:
    return CONTROL.match(char) is not None or unicodedata.category(char) in UNENCODABLE_CATEGORIES


def clean_source(text: str) -> str:
    """NFC ``text``; control and unencodable characters replaced, then whitespace collapsed.

    Text without such characters comes back as it is (NFC), so a normalised corpus
    sentence reaches the model unchanged.
    """
    text = unicodedata.normalize("NFC", text)
    if not any(map(_unusable, text)):
        return text
    kept = (" " if _unusable(c) else c for c in text)
    return " ".join("".join(kept).split())
