"""The sample stage's checks of the ``corpus`` section.

- :func:`check_config` (every parse, from :func:`mwalign.config.validate_config`):
  length bounds, book range, the Bible edition, the corpus file and its format, a
  Hugging Face name when that is the source.
- :func:`check_corpus_size` (once per run, from :func:`mwalign.config.check_inputs`):
  ``corpus.size`` against the sentences the source can give, counted with this stage's
  own code (the packaged Bible: cached under ``resources/checks/``) or the file's rows.
- :func:`check_offline`: with ``HF_HUB_OFFLINE`` set, a Hugging Face corpus is cached.

Each raises :class:`mwalign.errors.ConfigError` naming the key, the value and what is
allowed; none uses the network (the sample job checks a Hugging Face corpus itself).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from mwalign import bible
from mwalign.errors import ConfigError
from mwalign.hub import hub_dataset_cached
from mwalign.sample.corpus import clean, file_format, read_bible

# The code that decides which verses are usable: a change to one counts again.
COUNTING_MODULES = ("text.py", "bible.py", "sample/corpus.py")


def check_config(corpus: dict[str, Any]) -> None:
    """Length bounds, book range, the Bible edition or the corpus file of the chosen source."""
    if corpus["min_chars"] > corpus["max_chars"]:
        raise ConfigError(
            f"config.corpus.min_chars ({corpus['min_chars']}) exceeds "
            f"config.corpus.max_chars ({corpus['max_chars']})"
        )
    books = corpus["bible"]["books"]
    if books[0] > books[1]:
        raise ConfigError(f"config.corpus.bible.books {books}: first book after last book")
    if corpus["source"] == "bible":
        try:
            bible.check_edition(corpus["bible"]["edition"])
        except ValueError as err:
            raise ConfigError(f"config.corpus.bible.edition: {err}") from None
    if corpus["source"] == "file":
        _check_file(corpus["file"])
    if corpus["source"] == "huggingface" and not corpus["huggingface"]["name"]:
        raise ConfigError(
            "config.corpus.source is 'huggingface' but corpus.huggingface.name is not set"
        )


def _check_file(settings: dict[str, Any]) -> None:
    """The corpus file exists and its format is known (from ``format`` or its suffix)."""
    path = settings["path"]
    if not path:
        raise ConfigError("config.corpus.source is 'file' but corpus.file.path is not set")
    if not Path(path).is_file():
        raise ConfigError(
            f"config.corpus.file.path {path!r} is not a file (relative paths are read "
            "from the working directory); allowed: a .txt, .jsonl or .parquet file"
        )
    try:
        file_format(Path(path), settings["format"])
    except ValueError as err:
        raise ConfigError(f"config.{err}") from None


def usable_bible_sentences(corpus: dict[str, Any], cache_dir: Path) -> int:
    """Sentences the sample stage would keep from the packaged Bible: its own code, counted."""

    def count() -> int:
        raw = read_bible(corpus["bible"])
        return len(clean(raw, corpus["min_chars"], corpus["max_chars"], Counter(), Counter()))

    key = {"bible": corpus["bible"], "min_chars": corpus["min_chars"]}
    key["max_chars"] = corpus["max_chars"]
    return bible.cached_count("corpus", key, count, cache_dir=cache_dir, modules=COUNTING_MODULES)


def file_rows(path: Path, fmt: str, text_column: str) -> int:
    """Rows of a corpus file (lines, or Parquet rows): at most this many sentences are usable.

    A Parquet file's text column is checked from its schema too.
    """
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as err:
            raise ConfigError(
                f"config.corpus.file.path {str(path)!r}: not Parquet ({err})"
            ) from None
        schema = parquet.schema_arrow
        if text_column not in schema.names:
            raise ConfigError(
                f"config.corpus.file.text_column {text_column!r} is not a column of {path}; "
                f"allowed: {schema.names}"
            )
        return parquet.metadata.num_rows
    lines, last = 0, b"\n"
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def check_corpus_size(config: dict[str, Any], *, cache_dir: Path) -> int:
    """corpus.size against the usable sentences; returns the rows the corpus will have (at most)."""
    corpus = config["corpus"]
    size = corpus["size"]
    if corpus["source"] == "bible":
        usable = usable_bible_sentences(corpus, cache_dir)
        what = (
            f"usable verses in edition {corpus['bible']['edition']!r}, books "
            f"{corpus['bible']['books']}, {corpus['min_chars']}-{corpus['max_chars']} characters"
        )
    elif corpus["source"] == "file":
        settings = corpus["file"]
        path = Path(settings["path"])
        usable = file_rows(path, file_format(path, settings["format"]), settings["text_column"])
        what = f"rows in {path}"
    else:
        return size  # a hub dataset: the sample job checks it
    if usable >= size:
        return size
    if corpus["if_smaller"] == "take_all":
        return usable
    raise ConfigError(
        f"config.corpus.size is {size}, but the corpus has only {usable} {what}; allowed: at "
        f"most {usable}, or corpus.if_smaller: take_all"
    )


def check_offline(config: dict[str, Any], *, hint: str) -> None:
    """With HF_HUB_OFFLINE set: a Hugging Face corpus must be in the local cache."""
    corpus = config["corpus"]
    if corpus["source"] != "huggingface":
        return
    name = corpus["huggingface"]["name"]
    if not hub_dataset_cached(name):
        raise ConfigError(
            f"config.corpus.huggingface.name {name!r} is a Hugging Face dataset that is not "
            f"in the local cache, and HF_HUB_OFFLINE is set; {hint} use corpus.source "
            "'bible' or 'file'"
        )
