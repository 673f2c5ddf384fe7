"""The evaluate stage's checks of a config.

- :func:`check_config` (every parse, from :func:`mwalign.config.validate_config`):
  unseen languages are known and not trained on; the Bible tasks' books and English
  edition are disjoint from training's and have every language; mteb task names exist.
- :func:`check_pool_size` (once per run, from :func:`mwalign.config.check_inputs`): the
  Bible tasks' pool fits in the verses every edition has, counted with the tasks' own
  code (cached under ``resources/checks/``).
- :func:`check_offline`: with ``HF_HUB_OFFLINE`` set, every mteb task's data is cached.

Nothing here imports mteb except :func:`mteb_task_names` (once per mteb version, run only
when the config names mteb tasks) and :func:`check_offline`. Each check raises ValueError
(or :class:`mwalign.errors.ConfigError`) naming the key, the value and what is allowed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mwalign import bible, files
from mwalign.errors import ConfigError
from mwalign.hub import hub_dataset_cached
from mwalign.languages import LANGUAGES
from mwalign.paths import MTEB_CACHE_DIR, SOURCE_LANGUAGE
from mwalign.sample.corpus import corpus_sources

from .langcodes import flores_code
from .params import OFFLINE_TASKS

# The code that decides which verses the Bible tasks' pool draws from.
COUNTING_MODULES = ("bible.py", "evaluate/verses.py")


def check_config(config: dict[str, Any]) -> None:
    """Raise ValueError naming the bad value and what is allowed; called at parse time."""
    settings = config["evaluate"]
    tasks = settings["tasks"]
    _check_unseen(settings["unseen_languages"], config["languages"])
    if any(task in OFFLINE_TASKS for task in tasks):
        _check_bible(settings["bible"], config)
        _check_bible_languages(config["languages"] + settings["unseen_languages"])
    online = [task for task in tasks if task not in OFFLINE_TASKS]
    if online:
        check_mteb_task_names(online)


def _check_unseen(unseen: list[str], languages: list[str]) -> None:
    for code in unseen:
        if code not in LANGUAGES:
            raise ValueError(
                f"unknown language {code!r} in config.evaluate.unseen_languages; "
                f"known: {', '.join(sorted(LANGUAGES))}"
            )
        flores_code(code)
    clash = sorted(set(unseen) & set(languages) | ({SOURCE_LANGUAGE} & set(unseen)))
    if clash:
        raise ValueError(
            f"config.evaluate.unseen_languages lists {clash}, which are training languages "
            f"(English or config.languages {languages}); unseen languages must not be"
        )


def _check_bible(settings: dict[str, Any], config: dict[str, Any]) -> None:
    bible.check_edition(
        settings["english_edition"], key="evaluate.bible.english_edition", lang="en"
    )
    books = settings["books"]
    if books[0] > books[1]:
        raise ValueError(f"config.evaluate.bible.books {books}: first book after last book")
    for key, source in corpus_sources(config["corpus"]):
        if source["source"] != "bible":
            continue
        train_books = source["bible"]["books"]
        if books[0] <= train_books[1] and train_books[0] <= books[1]:
            raise ValueError(
                f"config.evaluate.bible.books {books} overlaps config.{key}.bible.books "
                f"{train_books}: evaluation must not reuse verses that training may sample; "
                "choose disjoint books"
            )
        if settings["english_edition"] == source["bible"]["edition"]:
            raise ValueError(
                f"config.evaluate.bible.english_edition {settings['english_edition']!r} is the "
                f"training edition (config.{key}.bible.edition); choose another English "
                "edition, e.g. '2' or 'k'"
            )


def _check_bible_languages(codes: list[str]) -> None:
    missing = [code for code in codes if LANGUAGES[code].bible is None]
    if missing:
        with_bible = sorted(
            code for code, entry in LANGUAGES.items() if entry.bible and code != SOURCE_LANGUAGE
        )
        raise ValueError(
            f"languages {missing} have no edition in the packaged Bible corpus, so the Bible tasks "
            f"cannot evaluate them; languages with one: {', '.join(with_bible)}"
        )


def mteb_task_names(cache_dir: Path) -> set[str]:
    """Every task name the installed mteb knows, cached per mteb version in ``cache_dir``.

    Importing mteb and listing its tasks takes seconds; the workflow checks task names
    at every parse (every ``snakemake -n``), so the list is read from the cache instead.
    """
    from importlib.metadata import version

    path = cache_dir / f"task-names-{version('mteb')}.json"
    if path.exists():
        return set(files.read_json(path))
    from .caches import import_mteb

    mteb = import_mteb(cache_dir)
    names = sorted({task.metadata.name for task in mteb.get_tasks()})
    files.write_json(names, path)
    return set(names)


def check_mteb_task_names(names: list[str]) -> None:
    """Raise ValueError for names mteb does not know (its task list cached under MTEB_CACHE)."""
    known = mteb_task_names(Path(os.environ.get("MTEB_CACHE", MTEB_CACHE_DIR)))
    unknown = [name for name in names if name not in known]
    if unknown:
        from mwalign.errors import suggestion

        hint = suggestion(unknown[0], sorted(known | set(OFFLINE_TASKS)))
        raise ValueError(
            f"unknown task(s) {unknown} in config.evaluate.tasks{hint}; allowed: the offline "
            f"tasks {sorted(OFFLINE_TASKS)} or any mteb task name (mteb.get_tasks())"
        )


# -------------------------------------------------------------- against the data


def usable_pool_verses(config: dict[str, Any], cache_dir: Path) -> int:
    """Verses the Bible tasks' pool draws from: the tasks' own code, counted."""
    from .verses import aligned_verses

    settings = config["evaluate"]
    bible_settings = settings["bible"]
    languages = config["languages"] + settings["unseen_languages"]

    def count() -> int:
        books = tuple(bible_settings["books"])
        english, min_chars = bible_settings["english_edition"], bible_settings["min_chars"]
        return len(aligned_verses(languages, english, books, min_chars))

    key = {"languages": languages, "english_edition": bible_settings["english_edition"]}
    key.update(books=bible_settings["books"], min_chars=bible_settings["min_chars"])
    return bible.cached_count("pool", key, count, cache_dir=cache_dir, modules=COUNTING_MODULES)


def check_pool_size(config: dict[str, Any], *, cache_dir: Path) -> None:
    """``evaluate.bible.size`` against the verses usable in every edition of the pool."""
    if not any(task in OFFLINE_TASKS for task in config["evaluate"]["tasks"]):
        return
    settings = config["evaluate"]["bible"]
    usable = usable_pool_verses(config, cache_dir)
    if settings["size"] > usable:
        raise ConfigError(
            f"config.evaluate.bible.size is {settings['size']}, but only {usable} verses of "
            f"books {settings['books']} are usable in every edition of the corpus (English "
            f"edition {settings['english_edition']!r}, at least {settings['min_chars']} "
            f"characters); allowed: 2 to {usable}"
        )


def mteb_task_dataset(task: str) -> str | None:
    """The Hugging Face dataset an mteb task downloads (imports mteb: seconds)."""
    from .caches import import_mteb

    mteb = import_mteb(os.environ.get("MTEB_CACHE", MTEB_CACHE_DIR))
    return mteb.get_task(task).metadata.dataset.get("path")


def check_offline(config: dict[str, Any], *, hint: str) -> None:
    """With HF_HUB_OFFLINE set: every mteb task's data is in the local cache."""
    for task in config["evaluate"]["tasks"]:
        if task in OFFLINE_TASKS:
            continue
        dataset = mteb_task_dataset(task)
        if dataset and not hub_dataset_cached(dataset):
            raise ConfigError(
                f"config.evaluate.tasks lists the mteb task {task!r}, whose data ({dataset!r}) "
                f"is not in the local cache, and HF_HUB_OFFLINE is set; {hint} use the offline "
                f"tasks {sorted(OFFLINE_TASKS)}"
            )
