"""Shared pieces of the project's losses: embedding the language views of a batch,
gathering them across processes, and choosing the language pairs that are scored.

A training batch holds B sentence ids. Multi-way data brings every id in V = L + 1
language views (English first, then the target languages); En-X data brings two views
(English and the row's one target). The data collator tokenises each view as one
column, so a loss receives ``sentence_features``: a list of V feature dicts, view 0
being English. k-language multi-way rows (``train.row_languages``) bring k columns
whose languages differ per row; :func:`slot_views` turns them into language views and
a mask of the languages each row holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from sentence_transformers.base.losses.merged_forward import column_merging_disabled, embed_columns
from sentence_transformers.util import all_gather, all_gather_with_grad
from sentence_transformers.util.environment import is_dist_initialized
from torch import Tensor, nn

PairSelection = Literal["all", "english"]
PAIR_SELECTIONS = ("all", "english")


def embed_views(model: nn.Module, sentence_features: Iterable[dict[str, Any]]) -> list[Tensor]:
    """Embed every view; one list entry of shape (B, dim) per view.

    On a GPU the views share one padded forward pass (fewer, larger kernels); on a CPU each
    view runs alone, because compute grows with padded tokens and views differ in length.
    """
    features = list(sentence_features)
    device = features[0]["input_ids"].device if "input_ids" in features[0] else None
    if device is not None and device.type == "cuda":
        return embed_columns(model, features, separate_first=False)
    with column_merging_disabled():
        return embed_columns(model, features, separate_first=False)


def gather_views(views: list[Tensor]) -> list[Tensor]:
    """Concatenate each view across processes, keeping gradients: (B, d) -> (world * B, d).

    Every process then holds the global contrastive batch. Rows from other processes
    carry gradients back to them through the all-gather's backward (a reduce-scatter),
    so each process scores the full global loss and data-parallel gradient averaging
    recovers the single-process gradient exactly. Without a process group this is a no-op.
    """
    if not is_dist_initialized():
        return views
    return [all_gather_with_grad(view) for view in views]


def gather_labels(labels: Tensor | None) -> Tensor | None:
    """Concatenate teacher labels across processes (no gradient): (B, ...) -> (world * B, ...)."""
    if labels is None or not is_dist_initialized():
        return labels
    return all_gather(labels.contiguous())


def slot_views(
    slots: list[Tensor], languages: Tensor, n_languages: int
) -> tuple[list[Tensor], Tensor]:
    """k-language rows as language views: k slot embeddings (B, d) whose languages are
    ``languages`` (B, k) (indices into [en, *languages]) -> ``n_languages`` views (B, d)
    and ``present`` (n_languages, B), True where row i holds that language. A view's
    entry for a row without that language is a placeholder that ``present`` masks out."""
    stacked = torch.stack(slots)  # (k, B, d)
    rows = torch.arange(stacked.size(1), device=stacked.device)
    languages = languages.to(stacked.device).long()
    views, present = [], []
    for lang in range(n_languages):
        hit = languages == lang  # (B, k)
        views.append(stacked[hit.int().argmax(dim=1), rows])  # (B, d)
        present.append(hit.any(dim=1))
    return views, torch.stack(present)


def language_pairs(n_views: int, selection: PairSelection = "all") -> list[tuple[int, int]]:
    """Ordered (anchor view, candidate view) pairs scored by a loss.

    ``all``: every ordered pair of distinct views (every language is an anchor).
    ``english``: only pairs with English (view 0) on one side, in both directions: the
    English-centric ablation on multi-way data, symmetric like the En-X baseline.
    """
    if selection not in PAIR_SELECTIONS:
        raise ValueError(f"unknown pair selection {selection!r}; allowed: {list(PAIR_SELECTIONS)}")
    pairs = [(a, b) for a in range(n_views) for b in range(n_views) if a != b]
    if selection == "english":
        pairs = [(a, b) for a, b in pairs if 0 in (a, b)]
    if not pairs:
        raise ValueError(f"a contrastive loss needs at least two views, got {n_views}")
    return pairs


def cosine_matrix(anchors: Tensor, candidates: Tensor) -> Tensor:
    """Cosine similarities: (N, d) x (M, d) -> (N, M)."""
    return F.normalize(anchors, dim=-1) @ F.normalize(candidates, dim=-1).T


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean over rows of -sum_j targets_ij log softmax_j(logits_ij); both (N, M)."""
    return -(targets * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


LABEL_STRATEGIES = ("priority", "average", "pair_priority")


def teacher_similarity(labels: Tensor, a: int, b: int, strategy: str) -> Tensor:
    """Teacher similarity T for the view pair (a, b) from teacher embeddings.

    ``labels``: (B, V_t, d_t) L2-normalised teacher embeddings, V_t = 1 (English only) or
    V (one per view, in view order: English, then the configured languages).
    ``priority``: T = E_en E_en^T for every pair. ``pair_priority``: T = E_p E_p^T with p
    the pair's higher-priority view, the earlier one in view order (IMASCL's
    ``embed_direction input`` rule with the languages listed English first); it equals
    ``priority`` on every pair with English. ``average``: T = (E_a E_a^T + E_b E_b^T) / 2.
    ``pair_priority`` and ``average`` need every view embedded by the teacher.
    """
    if strategy not in LABEL_STRATEGIES:
        raise ValueError(f"unknown label strategy {strategy!r}; allowed: {list(LABEL_STRATEGIES)}")
    if strategy == "priority" or (strategy == "pair_priority" and min(a, b) == 0):
        english = labels[:, 0]  # (B, d_t)
        return english @ english.T  # (B, B)
    if labels.size(1) == 1:
        raise ValueError(
            f"label strategy {strategy!r} needs teacher embeddings of every language view, "
            "but the labels hold English only; add the languages to teacher.languages "
            "or use label_strategy 'priority'"
        )
    if strategy == "pair_priority":
        first = labels[:, min(a, b)]  # (B, d_t)
        return first @ first.T  # (B, B)
    side_a, side_b = labels[:, a], labels[:, b]  # (B, d_t) each
    return 0.5 * (side_a @ side_a.T + side_b @ side_b.T)  # (B, B)
