"""Multi-way InfoNCE: every language view is an anchor, its positives are the same
sentence in every other language, and the other sentences of the batch are negatives."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from torch import Tensor

from mwalign.train.losses.decoupled import DENOMINATORS, decoupled_infonce
from mwalign.train.losses.pairwise import PairwiseViewLoss
from mwalign.train.losses.views import PairSelection


class MultiwayInfoNCE(PairwiseViewLoss):
    """Hard-label InfoNCE over every ordered pair of language views.

    Inputs: ``sentence_features`` is a list of V >= 2 tokenised views of the same B
    sentence ids (view 0 English); no labels are needed.

    ``denominator: standard`` (the default): for every ordered pair (a, b) the (B, B)
    cosine matrix S_ab / temperature is scored with cross-entropy against the identity
    (row i's positive is column i, the other B - 1 columns of view b its negatives, the
    positive itself in the softmax's denominator); the loss is the mean over pairs. As
    (b, a) is a pair whenever (a, b) is, the loss is symmetric. With two views it is the
    En-X baseline's symmetric InfoNCE.

    ``denominator: negatives``: the decoupled form (Eq. 1 of the paper; Yeh et al., 2022)
    of :func:`~mwalign.train.losses.decoupled.decoupled_infonce`: each positive p of
    anchor i gives -s(i, p) / tau + log sum over the negatives n of exp(s(i, n) / tau),
    the negatives being every other row's sentence in every language of the batch; the
    terms are averaged over the anchor's positives, then over the anchors.

    Options: see :class:`PairwiseViewLoss`.

    Example::

        loss = MultiwayInfoNCE(model, temperature=0.05, denominator="negatives")

    Citation: Yeh, Hong, Hsu, Liu, Chen, LeCun. "Decoupled Contrastive Learning", ECCV
    2022 (the ``negatives`` denominator).
    """

    def __init__(
        self,
        model: SentenceTransformer | None,
        temperature: float = 0.05,
        pairs: PairSelection = "all",
        gather_across_devices: bool = True,
        denominator: Literal["standard", "negatives"] = "standard",
    ) -> None:
        super().__init__(model, temperature, pairs, gather_across_devices)
        if denominator not in DENOMINATORS:
            raise ValueError(f"unknown denominator {denominator!r}; allowed: {list(DENOMINATORS)}")
        self.denominator = denominator

    def compute_loss_from_views(self, views: list[Tensor], labels: Tensor | None = None) -> Tensor:
        if self.denominator == "negatives":
            return decoupled_infonce(views, self.temperature, self.pairs)
        return super().compute_loss_from_views(views, labels)

    def pair_loss(self, logits: Tensor, a: int, b: int, labels: Tensor | None) -> Tensor:
        targets = torch.arange(logits.size(0), device=logits.device)  # (B,): the diagonal
        return F.cross_entropy(logits, targets)

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "denominator": self.denominator}
