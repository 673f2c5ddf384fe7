"""Multi-way InfoNCE: every language view is an anchor, its positives are the same
sentence in every other language, and the other sentences of the batch are negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mwalign.train.losses.pairwise import PairwiseViewLoss


class MultiwayInfoNCE(PairwiseViewLoss):
    """Hard-label InfoNCE over every ordered pair of language views.

    Inputs: ``sentence_features`` is a list of V >= 2 tokenised views of the same B
    sentence ids (view 0 English); no labels are needed. For every ordered pair (a, b)
    the (B, B) cosine matrix S_ab / temperature is scored with cross-entropy against the
    identity (row i's positive is column i); the loss is the mean over pairs. As (b, a)
    is a pair whenever (a, b) is, the loss is symmetric. With two views it is the En-X
    baseline's symmetric InfoNCE. Options: see :class:`PairwiseViewLoss`.
    """

    def pair_loss(self, logits: Tensor, a: int, b: int, labels: Tensor | None) -> Tensor:
        targets = torch.arange(logits.size(0), device=logits.device)  # (B,): the diagonal
        return F.cross_entropy(logits, targets)
