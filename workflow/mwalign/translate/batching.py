"""Length-sorted, token-budget batching.

Sorting a shard by length puts sentences of similar length together, so little of a
batch is padding; a token budget (batch size x longest sentence <= budget) keeps many
short sentences or few long ones per batch. Batches hold positions into the caller's
list, so the caller restores the original order by writing results back by position.
"""

from __future__ import annotations


def padded_tokens(lengths: list[int]) -> int:
    """Tokens a batch of sequences of ``lengths`` occupies once padded to the longest."""
    return len(lengths) * max(lengths, default=0)


def make_batches(
    lengths: list[int], token_budget: int, max_batch_size: int, sort_by_length: bool = True
) -> list[list[int]]:
    """Split positions ``0..len(lengths)-1`` into batches.

    Each batch has at most ``max_batch_size`` items and, once padded, at most
    ``token_budget`` tokens; a single item longer than the budget forms a batch of its
    own. With ``sort_by_length`` the positions are visited longest first (so an out of
    memory error, if any, comes early); otherwise in input order (naive batching).
    """
    if token_budget < 1 or max_batch_size < 1:
        raise ValueError(
            f"token_budget {token_budget!r} and max_batch_size {max_batch_size!r} must be >= 1"
        )
    order = list(range(len(lengths)))
    if sort_by_length:
        order.sort(key=lambda pos: (-lengths[pos], pos))
    batches: list[list[int]] = []
    batch: list[int] = []
    longest = 0
    for pos in order:
        length = max(1, lengths[pos])
        widest = max(longest, length)
        if batch and (len(batch) >= max_batch_size or (len(batch) + 1) * widest > token_budget):
            batches.append(batch)
            batch, widest = [], length
        batch.append(pos)
        longest = widest
    if batch:
        batches.append(batch)
    return batches
