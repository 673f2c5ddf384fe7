"""Base of the losses that score every pair of language views of a batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from torch import Tensor, nn

from mwalign.train.losses.views import (
    PairSelection,
    cosine_matrix,
    embed_views,
    gather_labels,
    gather_views,
    language_pairs,
)


class PairwiseViewLoss(nn.Module):
    """Mean over ordered view pairs (a, b) of ``pair_loss(S_ab / temperature)``.

    Inputs: ``sentence_features`` is a list of V >= 2 tokenised views of the same B
    sentence ids (view 0 English); ``labels`` are optional teacher embeddings of shape
    (B, V_t, d_t). S_ab is the (B, B) cosine matrix between the views' embeddings.
    Subclasses define :meth:`pair_loss` (and may add terms in
    :meth:`compute_loss_from_views`).

    Args:
        model: the student being trained.
        temperature: similarities are divided by it before :meth:`pair_loss`.
        pairs: ``all`` (every language an anchor) or ``english`` (only pairs with English
            on one side: the English-centric ablation on multi-way data).
        gather_across_devices: under torch.distributed, score the global batch gathered
            from every process (more negatives; the same loss value on every process).
    """

    def __init__(
        self,
        model: SentenceTransformer | None,
        temperature: float = 0.05,
        pairs: PairSelection = "all",
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        language_pairs(2, pairs)  # validates the selection name
        self.model = model
        self.temperature = temperature
        self.pairs = pairs
        self.gather_across_devices = gather_across_devices

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> Tensor:
        views = embed_views(self.model, sentence_features)  # V x (B, d)
        if self.gather_across_devices:
            views, labels = gather_views(views), gather_labels(labels)  # V x (world*B, d)
        return self.compute_loss_from_views(views, labels)

    def compute_loss_from_views(self, views: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The loss from view embeddings: ``views`` is V tensors of shape (B, d)."""
        pair_losses = [
            self.pair_loss(cosine_matrix(views[a], views[b]) / self.temperature, a, b, labels)
            for a, b in language_pairs(len(views), self.pairs)
        ]
        return torch.stack(pair_losses).mean()

    def pair_loss(self, logits: Tensor, a: int, b: int, labels: Tensor | None) -> Tensor:
        """The loss of one (B, B) logit matrix between views a and b."""
        raise NotImplementedError

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "pairs": self.pairs,
            "gather_across_devices": self.gather_across_devices,
        }
