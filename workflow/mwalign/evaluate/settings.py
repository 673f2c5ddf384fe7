"""The evaluate stage's cross-field checks of the config.

Every key of ``evaluate``, with its default, allowed values and bounds, is declared in
mwalign/schemas/evaluate.schema.yaml; each job's params slice comes from
:func:`mwalign.plan.evaluate_params`. Nothing here imports mteb except
:func:`mteb_task_names` (once per mteb version), run only when the config names MTEB
tasks beyond the project's own offline ones.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mwalign import bible, files
from mwalign.languages import LANGUAGES
from mwalign.paths import MTEB_CACHE_DIR, SOURCE_LANGUAGE

from .langcodes import flores_code

# The project's own tasks, built from the packaged Bible corpus (offline): name -> task type.
OFFLINE_TASKS = {
    "BibleBitextMining": "BitextMining",
    "BibleClassification": "Classification",
}


def check_evaluate_config(config: dict[str, Any]) -> None:
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
    bible.check_edition(settings["english_edition"])
    books = settings["books"]
    if books[0] > books[1]:
        raise ValueError(f"config.evaluate.bible.books {books}: first book after last book")
    corpus = config["corpus"]
    if corpus["source"] == "bible":
        train_books = corpus["bible"]["books"]
        if books[0] <= train_books[1] and train_books[0] <= books[1]:
            raise ValueError(
                f"config.evaluate.bible.books {books} overlaps config.corpus.bible.books "
                f"{train_books}: evaluation must not reuse verses that training may sample; "
                "choose disjoint books"
            )
        if settings["english_edition"] == corpus["bible"]["edition"]:
            raise ValueError(
                f"config.evaluate.bible.english_edition {settings['english_edition']!r} is the "
                "training edition (config.corpus.bible.edition); choose another English "
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
        raise ValueError(
            f"unknown task(s) {unknown} in config.evaluate.tasks; allowed: the offline tasks "
            f"{sorted(OFFLINE_TASKS)} or any mteb task name (mteb.get_tasks())"
        )
