"""Bad input: clean odd characters, and truncate or skip sources beyond the model's limit.

Nothing here drops a row: a source that is not sent to the model gets an empty
translation (flagged ``flag_empty`` later) and is counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mwalign.text import clean_source
from mwalign.translate.backends import Backend


@dataclass
class PreparedSources:
    """What is sent to the model per row: a text, or None for no model call."""

    inputs: list[str | None]
    counts: dict[str, int] = field(default_factory=dict)


def prepare_sources(
    texts: list[str], backend: Backend, max_source_tokens: int | None, too_long: str | None
) -> PreparedSources:
    """Clean every source; blank ones get no model call; long ones are truncated or skipped.

    Counts: ``empty_sources``, ``cleaned_sources`` (odd characters replaced),
    ``unknown_token_sources`` (text the tokenizer maps to its unknown token),
    ``truncated`` and ``skipped`` (longer than ``max_source_tokens``). Without a
    ``max_source_tokens`` (the reference backend) nothing is cut.
    """
    counts = dict.fromkeys(
        ("empty_sources", "cleaned_sources", "unknown_token_sources", "truncated", "skipped"), 0
    )
    cleaned = [clean_source(text) for text in texts]
    counts["cleaned_sources"] = sum(a != b for a, b in zip(texts, cleaned, strict=True))
    inputs: list[str | None] = [text if text.strip() else None for text in cleaned]
    counts["empty_sources"] = sum(text is None for text in inputs)
    live = [pos for pos, text in enumerate(inputs) if text is not None]
    lengths = backend.source_lengths([inputs[pos] for pos in live])
    counts["unknown_token_sources"] = sum(backend.has_unknown([inputs[pos] for pos in live]))
    for pos, length in zip(live, lengths, strict=True):
        if max_source_tokens is None or length <= max_source_tokens:
            continue
        if too_long == "skip":
            inputs[pos] = None
            counts["skipped"] += 1
        else:
            inputs[pos] = backend.truncate(inputs[pos], max_source_tokens)
            counts["truncated"] += 1
    return PreparedSources(inputs, counts)
