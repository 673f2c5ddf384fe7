"""Soft contrastive loss (IMASCL): the monolingual teacher's similarities, not the
identity, say how much each in-batch sentence counts as a positive."""

from __future__ import annotations

from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from torch import Tensor

from mwalign.train.losses.pairwise import PairwiseViewLoss
from mwalign.train.losses.views import (
    PairSelection,
    cosine_matrix,
    soft_cross_entropy,
    teacher_similarity,
)


class SoftContrastive(PairwiseViewLoss):
    """IMASCL's soft contrastive loss, optionally with TCM.

    Inputs: V >= 2 tokenised views of B sentence ids (view 0 English) and ``labels``, the
    precomputed teacher embeddings (B, V_t, d_t): English only (V_t = 1) or one per view.
    Targets w = row_softmax(T / teacher_temperature), T the teacher similarity of the
    pair (``priority``: English's; ``average``: mean of both sides'). Per ordered pair
    (a, b): -sum_ij w_ij log softmax_j(S_ab,ij / temperature), averaged over rows; the
    pairs (a, b) and (b, a) make it symmetric. With ``tcm`` the same loss inside each
    language's own space (S_vv against T_vv) is added: L = lambda * L_cross + L_mono.
    """

    def __init__(
        self,
        model: SentenceTransformer | None,
        temperature: float = 0.1,
        teacher_temperature: float = 0.1,
        label_strategy: str = "priority",
        tcm: bool = False,
        tcm_lambda: float = 1.0,
        pairs: PairSelection = "all",
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(model, temperature, pairs, gather_across_devices)
        if not teacher_temperature > 0:
            raise ValueError(f"teacher_temperature must be positive, got {teacher_temperature}")
        if label_strategy not in ("priority", "average"):
            raise ValueError(
                f"unknown label strategy {label_strategy!r}; allowed: ['priority', 'average']"
            )
        self.teacher_temperature = teacher_temperature
        self.label_strategy = label_strategy
        self.tcm = tcm
        self.tcm_lambda = tcm_lambda

    def soft_targets(self, labels: Tensor, a: int, b: int) -> Tensor:
        """w = row_softmax(T_ab / teacher_temperature): (B, B), rows sum to 1."""
        similarity = teacher_similarity(labels, a, b, self.label_strategy)  # (B, B)
        return torch.softmax(similarity / self.teacher_temperature, dim=-1)

    def pair_loss(self, logits: Tensor, a: int, b: int, labels: Tensor | None) -> Tensor:
        if labels is None:
            raise ValueError("the soft contrastive loss needs teacher embeddings as labels")
        return soft_cross_entropy(logits, self.soft_targets(labels, a, b))

    def compute_loss_from_views(self, views: list[Tensor], labels: Tensor | None = None) -> Tensor:
        cross = super().compute_loss_from_views(views, labels)
        if not self.tcm:
            return cross
        mono = [
            self.pair_loss(cosine_matrix(view, view) / self.temperature, v, v, labels)
            for v, view in enumerate(views)
        ]
        return self.tcm_lambda * cross + torch.stack(mono).mean()

    def get_config_dict(self) -> dict[str, Any]:
        return {
            **super().get_config_dict(),
            "teacher_temperature": self.teacher_temperature,
            "label_strategy": self.label_strategy,
            "tcm": self.tcm,
            "tcm_lambda": self.tcm_lambda,
        }
