"""How long the experiment's sentences are, and how many an evaluation encodes.

Token counts are estimated from characters, without loading a tokenizer: an English
sentence of ``c`` characters is ``c / CHARS_PER_TOKEN`` tokens, plus the model's two
special tokens and its input prefix, cut at the model's ``max_seq_length``. A
translation is counted as long as its English source: multilingual tokenizers split
translations of a sentence into about as many tokens as the English (checked on the
default experiment's evaluation pool with e5's tokenizer: 36.3 tokens for the English
verses, 33.9 to 41.4 for the fourteen other languages, 36.9 on average; this module's
estimate is 34.1).

English characters come from the data where it is at hand: the sampled corpus
(``results/corpus/en.parquet``) once rule sample has run, else the corpus source read
and filtered as rule sample does (a Bible edition or a file); a Hugging Face corpus
that is not at hand is assumed to average :data:`ASSUMED_CHARS` characters. The Bible
tasks' verse pool is built as the evaluate stage builds it; mteb tasks' texts come from
mteb's descriptive statistics of the subsets the experiment evaluates: their unique texts
(a language's column counted once in a bitext task's parallel layout, a classification
subset's training texts capped at what mteb draws), without repeats across tasks.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Characters per token of English text under a multilingual BPE/SentencePiece vocabulary.
CHARS_PER_TOKEN = 4.0
# Special tokens around every input (<s> ... </s>, [CLS] ... [SEP]).
SPECIAL_TOKENS = 2
# Mean characters of an English sentence of a corpus that is not at hand.
ASSUMED_CHARS = 120.0


@dataclass(frozen=True)
class Texts:
    """``count`` texts of ``chars`` English characters on average; ``source`` says whence."""

    count: int
    chars: float
    source: str


def tokens(chars: float, *, prefix: str = "", max_length: int | None = None) -> float:
    """Estimated tokens of a text of ``chars`` characters with ``prefix``, truncated."""
    estimate = SPECIAL_TOKENS + math.ceil(len(prefix) / CHARS_PER_TOKEN) + chars / CHARS_PER_TOKEN
    return min(estimate, max_length) if max_length else estimate


def corpus_chars(config: dict[str, Any], root: Path) -> tuple[float, str]:
    """(mean characters of an English corpus sentence, where the figure comes from)."""
    from mwalign.files import read_table

    sampled = root / "results" / "corpus" / "en.parquet"
    if sampled.is_file():
        texts = read_table(sampled).column("text").to_pylist()
        return sum(map(len, texts)) / len(texts), f"{sampled}"
    from mwalign.sample.corpus import clean, corpus_sources, read_corpus, shares

    corpus = config["corpus"]
    sources = corpus_sources(corpus)
    if all(settings["source"] in ("bible", "file") for _, settings in sources):
        # a mixture's sources weighted by their shares of corpus.size, as they are sampled
        means = {}
        for key, settings in sources:
            counts: Counter = Counter()
            raw = read_corpus(settings, counts, key)
            frame = clean(raw, corpus["min_chars"], corpus["max_chars"], counts, Counter())
            means[key] = float(frame["text"].str.len().mean())
        where = f"corpus.source {corpus['source']}, filtered"
        if len(means) == 1:
            return next(iter(means.values())), where
        weights = shares(corpus["size"], list(means))
        return sum(weights[key] * means[key] for key in means) / corpus["size"], where
    return ASSUMED_CHARS, f"assumed {ASSUMED_CHARS:.0f} (corpus not at hand)"


def bible_pool(config: dict[str, Any]) -> Texts:
    """The Bible tasks' verse pool: one column per evaluated language, ``size`` verses."""
    from mwalign.evaluate.verses import verse_pool

    evaluate = config["evaluate"]
    bible = evaluate["bible"]
    languages = list(config["languages"]) + list(evaluate["unseen_languages"])
    pool = verse_pool(
        languages,
        bible["english_edition"],
        tuple(bible["books"]),
        bible["size"],
        config["seed"],
        bible["min_chars"],
    )
    english = pool["en"].str.len().mean()
    return Texts(len(pool) * (1 + len(languages)), float(english), "the Bible verse pool")


def _subset_texts(stats: dict[str, Any]) -> tuple[int, float]:
    """(unique texts, their characters) of one subset's mteb descriptive statistics."""
    count, chars = 0, 0.0
    for key, value in stats.items():
        if key.endswith("_statistics") and isinstance(value, dict) and "unique_texts" in value:
            count += value["unique_texts"]
            chars += value["unique_texts"] * value["average_text_length"]
    return count, chars


def _parallel_texts(by_subset: dict[str, Any], subsets: set[str]) -> tuple[int, float]:
    """(unique texts, characters) of a bitext task in mteb's parallel layout: its subsets
    pair columns of one table (``deu_Latn-fra_Latn``), so a language's texts are the same
    in every pair it is in: counted once per language (the largest count seen)."""
    per_language: dict[str, tuple[int, float]] = {}
    for subset, stats in by_subset.items():
        if subset not in subsets:
            continue
        sides = [stats[key] for key in sorted(stats) if key.endswith("_statistics")]
        sides = [side for side in sides if isinstance(side, dict) and "unique_texts" in side]
        for language, side in zip(subset.split("-"), sides, strict=False):
            found = (side["unique_texts"], side["unique_texts"] * side["average_text_length"])
            per_language[language] = max(per_language.get(language, (0, 0.0)), found)
    return sum(n for n, _ in per_language.values()), sum(c for _, c in per_language.values())


def _classifier_cap(task: Any, stats: dict[str, Any]) -> int | None:
    """Training texts mteb draws for a classification subset: the union of
    ``n_experiments`` samples of ``samples_per_label`` per label; None for other tasks."""
    if str(task.metadata.type) != "Classification":
        return None
    labels = (stats.get("label_statistics") or {}).get("unique_labels", 1)
    return task.n_experiments * task.samples_per_label * labels


def mteb_texts(name: str, params: dict[str, Any]) -> Texts:
    """Texts an evaluation of the mteb task ``name`` encodes (``params``: the evaluate
    stage's params of a job), from mteb's descriptive statistics of its subsets."""
    from mwalign.evaluate.mteb_tasks import mteb_task

    task = mteb_task(name, params)
    stats = task.metadata.descriptive_stats
    if not stats:
        raise ValueError(f"mteb task {name!r} carries no descriptive statistics to count")
    subsets = set(task.hf_subsets)
    splits = list(task.metadata.eval_splits)
    train_split = getattr(task, "train_split", None)
    if _classifier_cap(task, {}) is not None and train_split in stats:
        splits.append(train_split)
    count, chars = 0, 0.0
    for split in splits:
        by_subset = stats[split].get("hf_subset_descriptive_stats") or {"default": stats[split]}
        if getattr(task, "parallel_subsets", False):
            texts, characters = _parallel_texts(by_subset, subsets)
            count, chars = count + texts, chars + characters
            continue
        for subset, subset_stats in by_subset.items():
            if subset not in subsets and subset != "default":
                continue
            texts, characters = _subset_texts(subset_stats)
            cap = _classifier_cap(task, subset_stats) if split == train_split else None
            if cap is not None and texts > cap:
                characters, texts = characters * cap / texts, cap
            count, chars = count + texts, chars + characters
    return Texts(count, chars / max(count, 1), f"mteb's statistics of {name}")
