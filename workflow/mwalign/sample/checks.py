"""The sample stage's checks of the ``corpus`` section.

- :func:`check_config` (every parse, from :func:`mwalign.config.validate_config`):
  length bounds, book range, the Bible edition, the corpus file and its format, a
  Hugging Face name when that is the source; for ``source: mixture`` the same for each
  source of ``corpus.mixture``, its names, and at least two of them.
- :func:`check_corpus_size` (once per run, from :func:`mwalign.config.check_inputs`):
  ``corpus.size`` (or each mixture source's share of it) against the sentences the source
  can give, counted with this stage's own code (the packaged Bible: cached under
  ``resources/checks/``) or the file's rows.
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
from mwalign.paths import check_name
from mwalign.sample.corpus import clean, corpus_sources, file_format, read_bible, shares

# The code that decides which verses are usable: a change to one counts again.
COUNTING_MODULES = ("text.py", "bible.py", "sample/corpus.py")


def check_config(corpus: dict[str, Any]) -> None:
    """Length bounds, book range, the Bible edition or the corpus file of the chosen source
    (of each source of a mixture)."""
    if corpus["min_chars"] > corpus["max_chars"]:
        raise ConfigError(
            f"config.corpus.min_chars ({corpus['min_chars']}) exceeds "
            f"config.corpus.max_chars ({corpus['max_chars']})"
        )
    _check_mixture(corpus)
    books = corpus["bible"]["books"]
    if books[0] > books[1]:
        raise ConfigError(f"config.corpus.bible.books {books}: first book after last book")
    for key, settings in corpus_sources(corpus):
        _check_source(key, settings)


def _check_mixture(corpus: dict[str, Any]) -> None:
    """``corpus.mixture`` is set exactly when ``source`` is mixture, with two or more
    sources named like runs (names become part of seeds and of the ``source`` column)."""
    mixture = corpus.get("mixture")
    if corpus["source"] != "mixture":
        if mixture is not None:
            raise ConfigError(
                f"config.corpus.mixture is set but config.corpus.source is "
                f"{corpus['source']!r}; allowed: corpus.source: mixture with corpus.mixture, "
                "or no corpus.mixture"
            )
        return
    if not mixture or len(mixture) < 2:
        raise ConfigError(
            f"config.corpus.source is 'mixture' but config.corpus.mixture names "
            f"{sorted(mixture or {})}; allowed: at least two sources "
            "(corpus.mixture: {name: {source: bible|file|huggingface, ...}})"
        )
    for name in mixture:
        check_name("config.corpus.mixture source", name)


def _check_source(key: str, settings: dict[str, Any]) -> None:
    """One source (``key``: ``corpus`` or ``corpus.mixture.<name>``) is usable as set."""
    source = settings["source"]
    if source == "bible":
        books = settings["bible"]["books"]
        if books[0] > books[1]:
            raise ConfigError(f"config.{key}.bible.books {books}: first book after last book")
        try:
            bible.check_edition(settings["bible"]["edition"])
        except ValueError as err:
            raise ConfigError(f"config.{key}.bible.edition: {err}") from None
    if source == "file":
        _check_file(settings["file"], key)
    if source == "huggingface" and not settings["huggingface"]["name"]:
        raise ConfigError(
            f"config.{key}.source is 'huggingface' but {key}.huggingface.name is not set"
        )


def _check_file(settings: dict[str, Any], key: str = "corpus") -> None:
    """The corpus file exists and its format is known (from ``format`` or its suffix)."""
    path = settings["path"]
    if not path:
        raise ConfigError(f"config.{key}.source is 'file' but {key}.file.path is not set")
    if not Path(path).is_file():
        raise ConfigError(
            f"config.{key}.file.path {path!r} is not a file (relative paths are read "
            "from the working directory); allowed: a .txt, .jsonl or .parquet file"
        )
    try:
        file_format(Path(path), settings["format"], f"{key}.file")
    except ValueError as err:
        raise ConfigError(f"config.{err}") from None


def usable_bible_sentences(corpus: dict[str, Any], cache_dir: Path) -> int:
    """Sentences the sample stage would keep from the packaged Bible: its own code, counted.

    ``corpus`` holds ``bible``, ``min_chars`` and ``max_chars``."""

    def count() -> int:
        raw = read_bible(corpus["bible"])
        return len(clean(raw, corpus["min_chars"], corpus["max_chars"], Counter(), Counter()))

    key = {"bible": corpus["bible"], "min_chars": corpus["min_chars"]}
    key["max_chars"] = corpus["max_chars"]
    return bible.cached_count("corpus", key, count, cache_dir=cache_dir, modules=COUNTING_MODULES)


def file_rows(path: Path, fmt: str, text_column: str, key: str = "corpus") -> int:
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
                f"config.{key}.file.path {str(path)!r}: not Parquet ({err})"
            ) from None
        schema = parquet.schema_arrow
        if text_column not in schema.names:
            raise ConfigError(
                f"config.{key}.file.text_column {text_column!r} is not a column of {path}; "
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
    """corpus.size (each mixture source's share of it) against the usable sentences;
    returns the rows the corpus will have (at most)."""
    corpus = config["corpus"]
    if corpus["source"] != "mixture":
        return _check_source_size(corpus, "corpus", corpus, corpus["size"], cache_dir)
    sources = dict(corpus_sources(corpus))
    share = shares(corpus["size"], list(sources))
    return sum(
        _check_source_size(corpus, key, settings, share[key], cache_dir)
        for key, settings in sources.items()
    )


def _check_source_size(
    corpus: dict[str, Any], key: str, settings: dict[str, Any], size: int, cache_dir: Path
) -> int:
    """``size`` sentences against what one source can give; the rows it will give."""
    if settings["source"] == "bible":
        counted = {"bible": settings["bible"], "min_chars": corpus["min_chars"]}
        counted["max_chars"] = corpus["max_chars"]
        usable = usable_bible_sentences(counted, cache_dir)
        what = (
            f"usable verses in edition {settings['bible']['edition']!r}, books "
            f"{settings['bible']['books']}, {corpus['min_chars']}-{corpus['max_chars']} characters"
        )
    elif settings["source"] == "file":
        file = settings["file"]
        path = Path(file["path"])
        fmt = file_format(path, file["format"], f"{key}.file")
        usable = file_rows(path, fmt, file["text_column"], key)
        what = f"rows in {path}"
    else:
        return size  # a hub dataset: the sample job checks it
    if usable >= size:
        return size
    if corpus["if_smaller"] == "take_all":
        return usable
    if key == "corpus":
        wanted, holder = "config.corpus.size is", "the corpus"
    else:
        wanted, holder = f"config.{key}'s share of corpus.size is", key
    raise ConfigError(
        f"{wanted} {size}, but {holder} has only {usable} {what}; allowed: at most {usable}, "
        "or corpus.if_smaller: take_all"
    )


def check_offline(config: dict[str, Any], *, hint: str) -> None:
    """With HF_HUB_OFFLINE set: a Hugging Face corpus must be in the local cache."""
    for key, settings in corpus_sources(config["corpus"]):
        if settings["source"] != "huggingface":
            continue
        name = settings["huggingface"]["name"]
        if not hub_dataset_cached(name):
            raise ConfigError(
                f"config.{key}.huggingface.name {name!r} is a Hugging Face dataset that is "
                f"not in the local cache, and HF_HUB_OFFLINE is set; {hint} use "
                f"{key}.source 'bible' or 'file'"
            )
