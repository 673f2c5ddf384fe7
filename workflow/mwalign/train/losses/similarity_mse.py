"""Similarity MSE (IMASCL's baseline): the student's cross-lingual similarity matrix is
regressed onto the teacher's."""

from __future__ import annotations

from typing import Any

from sentence_transformers import SentenceTransformer
from torch import Tensor

from mwalign.train.losses.pairwise import PairwiseViewLoss
from mwalign.train.losses.views import LABEL_STRATEGIES, PairSelection, teacher_similarity


class SimilarityMSE(PairwiseViewLoss):
    """mean((S_ab - T_ab)^2 / tau^2) over the batch and the ordered view pairs.

    Inputs: V >= 2 tokenised views of B sentence ids (view 0 English) and ``labels``, the
    precomputed teacher embeddings (B, V_t, d_t). S_ab is the student's (B, B) cosine
    matrix between views a and b, T_ab the teacher's (see
    :func:`~mwalign.train.losses.views.teacher_similarity`), tau the temperature: a
    constant scale, 0.1 in IMASCL's code.

    Fidelity: IMASCL's ``loss_type MMSE`` with ``w_func raw`` (``AMETrainer.
    _compute_loss_from_type`` in modules/AMETrainer.py) sums the pair's two directions,
    mean(((S - T) / tau)^2) + mean(((S^T - T^T) / tau)^2); this loss averages them, so
    the reference is 2x this loss (see :class:`SoftContrastive` for why and what it
    means for gradient clipping).
    """

    def __init__(
        self,
        model: SentenceTransformer | None,
        temperature: float = 0.1,
        label_strategy: str = "priority",
        pairs: PairSelection = "all",
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(model, temperature, pairs, gather_across_devices)
        if label_strategy not in LABEL_STRATEGIES:
            raise ValueError(
                f"unknown label strategy {label_strategy!r}; allowed: {list(LABEL_STRATEGIES)}"
            )
        self.label_strategy = label_strategy

    def pair_loss(self, logits: Tensor, a: int, b: int, labels: Tensor | None) -> Tensor:
        if labels is None:
            raise ValueError("the similarity MSE loss needs teacher embeddings as labels")
        target = teacher_similarity(labels, a, b, self.label_strategy) / self.temperature
        return ((logits - target) ** 2).mean()  # logits = S / tau: (S - T)^2 / tau^2

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "label_strategy": self.label_strategy}
