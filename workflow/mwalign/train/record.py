"""What a trained model saw: the ``seen`` object of its mwalign_run.json.

Counted from the batches the run's sampler gives (:class:`~mwalign.train.data.
UniqueIdBatchSampler`, reshuffled every epoch from the job's seed), in the order the
Trainer consumes them: the first ``steps * gradient_accumulation`` batches. A resumed run
therefore counts the same batches as one that ran through.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from mwalign.paths import SOURCE_LANGUAGE


def sampler_batches(sampler: Any, count: int) -> Iterator[list[int]]:
    """The first ``count`` batches of ``sampler`` over its epochs 0, 1, ... (set_epoch)."""
    if len(sampler) == 0:
        raise ValueError("the sampler gives no batch")
    given = 0
    for epoch in itertools.count():
        sampler.set_epoch(epoch)
        for batch in sampler:
            if given == count:
                return
            given += 1
            yield batch
        if given == count:
            return


def seen_record(
    batches: Iterable[list[int]],
    *,
    ids: list[int],
    row_languages: list[list[str]],
    english_pairs_only: bool = False,
    batches_per_step: int = 1,
) -> dict[str, Any]:
    """Counts over the training batches (row indices into the train rows).

    ``ids``: each train row's sentence id; ``row_languages``: the languages each row
    holds; ``english_pairs_only``: only pairs with English are trained on (``pairs:
    english``), so only they are counted in ``pairs`` and ``language_pairs``.

    Returns ``steps`` (optimiser steps: batches / ``batches_per_step``, the gradient
    accumulation), ``rows``, ``distinct_ids`` (source sentences, the
    English roots), ``distinct_sentences`` (distinct (id, language) sentences), ``pairs``
    (unordered language pairs within the rows: C(k, 2) per k-language row, one per En-X
    row), ``languages`` (sentences per language) and ``language_pairs`` ("de-en": count,
    languages in alphabetical order).
    """
    steps = rows = pairs = 0
    distinct_ids: set[int] = set()
    sentences: set[tuple[int, str]] = set()
    languages: Counter[str] = Counter()
    language_pairs: Counter[str] = Counter()
    for batch in batches:
        steps += 1
        for row in batch:
            rows += 1
            distinct_ids.add(ids[row])
            held = sorted(row_languages[row])
            sentences.update((ids[row], lang) for lang in held)
            languages.update(held)
            for a, b in itertools.combinations(held, 2):
                if english_pairs_only and SOURCE_LANGUAGE not in (a, b):
                    continue
                language_pairs[f"{a}-{b}"] += 1
                pairs += 1
    return {
        "steps": steps // batches_per_step,
        "rows": rows,
        "distinct_ids": len(distinct_ids),
        "distinct_sentences": len(sentences),
        "pairs": pairs,
        "languages": dict(sorted(languages.items())),
        "language_pairs": dict(sorted(language_pairs.items())),
    }
