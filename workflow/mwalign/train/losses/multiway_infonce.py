"""Multi-way InfoNCE: every language view is an anchor, its positives are the same
sentence in every other language, and the other sentences of the batch are negatives."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
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


class MultiwayInfoNCE(nn.Module):
    """Hard-label InfoNCE over every ordered pair of language views.

    Inputs: ``sentence_features`` is a list of V >= 2 tokenised views of the same B
    sentence ids (view 0 English); no labels are needed. For every ordered pair (a, b)
    the (B, B) cosine matrix S_ab / temperature is scored with cross-entropy against the
    identity (row i's positive is column i); the loss is the mean over pairs. As (b, a)
    is a pair whenever (a, b) is, the loss is symmetric. With two views it is the En-X
    baseline's symmetric InfoNCE.

    Args:
        model: the student being trained.
        temperature: softmax temperature tau (similarities are divided by it).
        pairs: ``all`` (every language an anchor) or ``english`` (only pairs with English
            on one side: the English-centric ablation on multi-way data).
        gather_across_devices: under torch.distributed, score the global batch gathered
            from every process (more negatives; same loss value on every process).
    """

    def __init__(
        self,
        model: SentenceTransformer,
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
        """Cross-entropy of (B, B) logits against identity targets (the diagonal)."""
        targets = torch.arange(logits.size(0), device=logits.device)  # (B,)
        return F.cross_entropy(logits, targets)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "pairs": self.pairs,
            "gather_across_devices": self.gather_across_devices,
        }
