"""Similarity MSE (IMASCL's baseline): the student's cross-lingual similarity matrix is
regressed onto the teacher's."""

from __future__ import annotations

from typing import Any

from sentence_transformers import SentenceTransformer
from torch import Tensor

from mwalign.train.losses.pairwise import PairwiseViewLoss
from mwalign.train.losses.views import PairSelection, teacher_similarity


class SimilarityMSE(PairwiseViewLoss):
    """mean((S_ab - T_ab)^2 / tau^2) over the batch and the ordered view pairs.

    Inputs: V >= 2 tokenised views of B sentence ids (view 0 English) and ``labels``, the
    precomputed teacher embeddings (B, V_t, d_t). S_ab is the student's (B, B) cosine
    matrix between views a and b, T_ab the teacher's (``priority``: English's;
    ``average``: mean of both sides'), tau the temperature.
    """

    def __init__(
        self,
        model: SentenceTransformer | None,
        temperature: float = 0.05,
        label_strategy: str = "priority",
        pairs: PairSelection = "all",
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(model, temperature, pairs, gather_across_devices)
        self.label_strategy = label_strategy

    def pair_loss(self, logits: Tensor, a: int, b: int, labels: Tensor | None) -> Tensor:
        if labels is None:
            raise ValueError("the similarity MSE loss needs teacher embeddings as labels")
        target = teacher_similarity(labels, a, b, self.label_strategy) / self.temperature
        return ((logits - target) ** 2).mean()  # logits = S / tau: (S - T)^2 / tau^2

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "label_strategy": self.label_strategy}
