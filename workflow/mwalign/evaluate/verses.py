"""Held-out verse pools of the packaged Bible corpus, aligned across editions.

The offline tasks read verses of books the training corpus never samples (the New
Testament by default), with English from another edition than training. Verses that
are empty, very short or placeholders ("(verse missing)" in some editions) are
dropped: English must have ``min_chars`` characters, and every other edition's text
must be at least a third of its typical length relative to English (a length-ratio
test that adapts to scripts as dense as Chinese). A verse must pass in every
language of the corpus, not only the configured ones, so the pool does not change when
languages are added or removed: scores stay comparable and cached embeddings of the
other languages are reused.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from mwalign import bible
from mwalign.languages import LANGUAGES, language
from mwalign.paths import SOURCE_LANGUAGE
from mwalign.provenance import derive_seed

log = logging.getLogger(__name__)

# Languages with an edition in the corpus, besides English: a pool verse is usable in all.
BIBLE_LANGUAGES = tuple(
    code for code, entry in LANGUAGES.items() if entry.bible and code != SOURCE_LANGUAGE
)
SHORT_RATIO = 1 / 3  # a text shorter than this fraction of its usual length is a placeholder

# Sections of the New Testament, the labels of the classification task: name -> books.
NT_SECTIONS: dict[str, tuple[int, int]] = {
    "gospels": (40, 43),
    "acts": (44, 44),
    "pauline_letters": (45, 57),
    "general_letters": (58, 65),
    "revelation": (66, 66),
}


def section_of(book: int) -> str:
    """Name of the New Testament section a book number belongs to."""
    for name, (first, last) in NT_SECTIONS.items():
        if first <= book <= last:
            return name
    raise ValueError(f"book {book} is outside the New Testament sections {NT_SECTIONS}")


def aligned_verses(
    languages: list[str], english_edition: str, books: tuple[int, int], min_chars: int
) -> pd.DataFrame:
    """Every usable verse of ``books``: columns ref, book, chapter, en, then one per language.

    ``languages`` are config codes other than English; each is read from its edition in
    :mod:`mwalign.languages`. Usable means usable in every Bible language of that table.
    Dropped verses are counted in the log.
    """
    english = bible.read_edition(english_edition, books)
    frame = english[["ref", "book", "chapter"]].copy()
    frame[SOURCE_LANGUAGE] = english["text"].to_numpy()
    keep = frame[SOURCE_LANGUAGE].str.len() >= min_chars
    log.info(
        "verses %s-%s: %d, English shorter than %d chars: %d",
        *books,
        len(frame),
        min_chars,
        (~keep).sum(),
    )
    english_length = frame[SOURCE_LANGUAGE].str.len().clip(lower=1)
    for code in dict.fromkeys([*languages, *BIBLE_LANGUAGES]):
        texts = bible.read_edition(language(code).bible, books).set_index("ref")["text"]
        texts = texts.reindex(frame["ref"]).fillna("").to_numpy()
        ratio = pd.Series(texts).str.len() / english_length
        short = ratio < SHORT_RATIO * ratio[keep].median()
        log.debug("%s: %d verses empty, short or placeholders", code, (short & keep).sum())
        keep &= ~short
        if code in languages:
            frame[code] = texts
    log.info("usable verses in every edition: %d of %d", keep.sum(), len(frame))
    return frame[keep].reset_index(drop=True)


def verse_pool(
    languages: list[str],
    english_edition: str,
    books: tuple[int, int],
    size: int,
    seed: int,
    min_chars: int,
) -> pd.DataFrame:
    """``size`` usable verses (see :func:`aligned_verses`), seeded draw, in canon order."""
    frame = aligned_verses(languages, english_edition, books, min_chars)
    if size > len(frame):
        raise ValueError(
            f"config.evaluate.bible.size is {size}, but only {len(frame)} verses of books "
            f"{list(books)} are usable in every edition of the corpus; lower the size"
        )
    rng = np.random.default_rng(derive_seed(seed, "evaluate", "bible", english_edition, *books))
    chosen = np.sort(rng.choice(len(frame), size=size, replace=False))
    return frame.iloc[chosen].reset_index(drop=True)
