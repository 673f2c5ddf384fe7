"""The evaluate stage's slice of the config: defaults, checks and one job's parameters.

Nothing here imports mteb except :func:`mteb_task_names` (once per mteb version), run only when
the config names MTEB tasks beyond the project's own offline ones.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from mwalign import bible, io
from mwalign.languages import LANGUAGES

from .langcodes import SOURCE_LANGUAGE, flores_code

# The project's own tasks, built from the packaged Bible corpus (offline): name -> task type.
OFFLINE_TASKS = {
    "BibleBitextMining": "BitextMining",
    "BibleClassification": "Classification",
}

BIBLE_DEFAULTS: dict[str, Any] = {
    "english_edition": "2",
    "books": [40, 66],
    "size": 2000,
    "min_chars": 20,
}
EVALUATE_DEFAULTS: dict[str, Any] = {
    "tasks": ["BibleBitextMining"],
    "unseen_languages": ["fr", "pt", "it", "ja", "ko", "tr", "vi", "id", "pl", "sw"],
    "mteb_languages": "experiment",
    "precision": "fp32",
    "bible": BIBLE_DEFAULTS,
    "classification": {"samples_per_label": 32, "n_experiments": 10},
}
MTEB_LANGUAGE_FILTERS = ("experiment", "all")
PRECISIONS = ("fp32", "bf16")


def evaluate_settings(config: dict[str, Any]) -> dict[str, Any]:
    """``config['evaluate']`` with every default filled in (a copy)."""
    given = config.get("evaluate") or {}
    settings = copy.deepcopy(EVALUATE_DEFAULTS)
    settings.update(
        {k: copy.deepcopy(v) for k, v in given.items() if k not in ("bible", "classification")}
    )
    settings["bible"].update(given.get("bible") or {})
    settings["classification"].update(given.get("classification") or {})
    return settings


def model_student(config: dict[str, Any], model: str) -> str:
    """Student name of an evaluated model: ``base-{student}``, a run, or ``{run}-seed{k}``."""
    if model.startswith("base-") and model[len("base-") :] in config["students"]:
        return model[len("base-") :]
    for name, run in config["runs"].items():
        seeds = run.get("seeds", [0])
        names = [name] if len(seeds) == 1 else [f"{name}-seed{seed}" for seed in seeds]
        if model in names:
            return run["student"]
    known = [f"base-{s}" for s in config["students"]] + list(config["runs"])
    raise ValueError(
        f"unknown model {model!r} to evaluate; known: {known} (runs may end in -seed{{k}})"
    )


def evaluate_params(config: dict[str, Any], model: str, task: str) -> dict[str, Any]:
    """Exactly the config slice one (model, task) evaluation job depends on.

    The student's input prefix is included because it changes every embedding; the
    training settings are not (the model folder is the job's input).
    """
    settings = evaluate_settings(config)
    student = model_student(config, model)
    params: dict[str, Any] = {
        "task": task,
        "prefix": config["students"][student].get("prefix", ""),
        "precision": settings["precision"],
        "languages": list(config["languages"]),
        "unseen_languages": list(settings["unseen_languages"]),
    }
    if task in OFFLINE_TASKS:
        params["seed"] = config["seed"]
        params["bible"] = settings["bible"]
        if OFFLINE_TASKS[task] == "Classification":
            params["classification"] = settings["classification"]
    else:
        params["mteb_languages"] = settings["mteb_languages"]
    return params


def check_evaluate_config(config: dict[str, Any]) -> None:
    """Raise ValueError naming the bad value and what is allowed; called at parse time."""
    settings = evaluate_settings(config)
    tasks = settings["tasks"]
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
        raise ValueError(
            f"config.evaluate.tasks must be a non-empty list of task names, got {tasks!r}"
        )
    duplicates = sorted({t for t in tasks if tasks.count(t) > 1})
    if duplicates:
        raise ValueError(f"config.evaluate.tasks lists {duplicates} more than once")
    _check_unseen(settings["unseen_languages"], config["languages"])
    if settings["mteb_languages"] not in MTEB_LANGUAGE_FILTERS:
        raise ValueError(
            f"config.evaluate.mteb_languages is {settings['mteb_languages']!r}; "
            f"allowed: {list(MTEB_LANGUAGE_FILTERS)}"
        )
    if settings["precision"] not in PRECISIONS:
        raise ValueError(
            f"config.evaluate.precision is {settings['precision']!r}; allowed: {list(PRECISIONS)}"
        )
    if any(task in OFFLINE_TASKS for task in tasks):
        _check_bible(settings["bible"], config)
        _check_bible_languages(config["languages"] + settings["unseen_languages"])
    _check_classification(settings["classification"])
    online = [task for task in tasks if task not in OFFLINE_TASKS]
    if online:
        check_mteb_task_names(online)


def _check_unseen(unseen: Any, languages: list[str]) -> None:
    if not isinstance(unseen, list):
        raise ValueError(f"config.evaluate.unseen_languages must be a list, got {unseen!r}")
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
    unknown = sorted(set(settings) - set(BIBLE_DEFAULTS))
    if unknown:
        raise ValueError(
            f"unknown keys {unknown} in config.evaluate.bible; allowed: {sorted(BIBLE_DEFAULTS)}"
        )
    bible.check_edition(settings["english_edition"])
    books = settings["books"]
    if not (isinstance(books, list) and len(books) == 2 and 1 <= books[0] <= books[1] <= 66):
        raise ValueError(
            f"config.evaluate.bible.books is {books!r}; "
            "allowed: [first, last] with 1 <= first <= last <= 66"
        )
    for key, least in (("size", 2), ("min_chars", 0)):
        if not isinstance(settings[key], int) or settings[key] < least:
            raise ValueError(
                f"config.evaluate.bible.{key} is {settings[key]!r}; allowed: an integer >= {least}"
            )
    corpus = config.get("corpus") or {}
    if corpus.get("source", "bible") == "bible":
        train_books = (corpus.get("bible") or {}).get("books", [1, 39])
        if books[0] <= train_books[1] and train_books[0] <= books[1]:
            raise ValueError(
                f"config.evaluate.bible.books {books} overlaps config.corpus.bible.books "
                f"{train_books}: evaluation must not reuse verses that training may sample; "
                "choose disjoint books"
            )
        if settings["english_edition"] == (corpus.get("bible") or {}).get("edition", "4"):
            raise ValueError(
                f"config.evaluate.bible.english_edition {settings['english_edition']!r} is the "
                "training edition (config.corpus.bible.edition); choose another English "
                "edition, e.g. '2' or 'k'"
            )


def _check_bible_languages(codes: list[str]) -> None:
    missing = [code for code in codes if LANGUAGES[code].bible is None]
    if missing:
        with_bible = sorted(
            code for code, entry in LANGUAGES.items() if entry.bible and code != "en"
        )
        raise ValueError(
            f"languages {missing} have no edition in the packaged Bible corpus, so the Bible tasks "
            f"cannot evaluate them; languages with one: {', '.join(with_bible)}"
        )


def _check_classification(settings: dict[str, Any]) -> None:
    for key in ("samples_per_label", "n_experiments"):
        value = settings.get(key)
        if not isinstance(value, int) or value < 1:
            raise ValueError(
                f"config.evaluate.classification.{key} is {value!r}; allowed: an integer >= 1"
            )


def mteb_task_names(cache_dir: Path) -> set[str]:
    """Every task name the installed mteb knows, cached per mteb version in ``cache_dir``.

    Importing mteb and listing its tasks takes seconds; the workflow checks task names
    at every parse (every ``snakemake -n``), so the list is read from the cache instead.
    """
    from importlib.metadata import version

    path = cache_dir / f"task-names-{version('mteb')}.json"
    if path.exists():
        return set(io.read_json(path))
    from .caches import import_mteb

    mteb = import_mteb(cache_dir)
    names = sorted({task.metadata.name for task in mteb.get_tasks()})
    io.write_json(names, path)
    return set(names)


def check_mteb_task_names(names: list[str]) -> None:
    """Raise ValueError for names mteb does not know (its task list cached under MTEB_CACHE)."""
    known = mteb_task_names(Path(os.environ.get("MTEB_CACHE", "resources/mteb")))
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"unknown task(s) {unknown} in config.evaluate.tasks; allowed: the offline tasks "
            f"{sorted(OFFLINE_TASKS)} or any mteb task name (mteb.get_tasks())"
        )
