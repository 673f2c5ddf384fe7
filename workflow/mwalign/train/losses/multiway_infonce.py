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
from mwalign.train.losses.views import (
    PairSelection,
    cosine_matrix,
    language_pairs,
    slot_views,
)


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

    k-language rows (``n_languages`` set, ``train.row_languages``): each row holds k of
    the ``n_languages`` languages. ``sentence_features`` then holds k columns and
    ``labels`` (B, k) the language index of each row's column (0: English). For an
    ordered language pair (a, b) the anchors are the rows holding both a and b; each
    anchor's positive is its own row's sentence in b, its negatives the b sentences of
    the other rows holding b. A language a row lacks is neither a positive nor a
    negative. The loss is the mean over all (row, ordered pair of its languages) terms,
    so every row weighs the same; with every language in every row it equals the
    full-row loss above (each pair then has B anchors). Fidelity: arXiv 2602.21543's
    text (as read by a third party) has rows of four languages sharing one positive
    group, every language an anchor, but gives no normalisation; averaging over terms
    (not over pairs, whose anchor counts differ per batch) is this project's choice.
    docs/objectives.md gives the formula; tests/test_row_languages.py compares it with a
    hand transcription.
    With k-language rows the negatives-only denominator masks the languages a row
    lacks the same way (see :func:`~mwalign.train.losses.decoupled.decoupled_infonce`).

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
        n_languages: int | None = None,
        denominator: Literal["standard", "negatives"] = "standard",
    ) -> None:
        super().__init__(model, temperature, pairs, gather_across_devices)
        if n_languages is not None and n_languages < 2:
            raise ValueError(f"k-language rows need at least two languages, got {n_languages}")
        if denominator not in DENOMINATORS:
            raise ValueError(f"unknown denominator {denominator!r}; allowed: {list(DENOMINATORS)}")
        self.n_languages = n_languages
        self.denominator = denominator

    def compute_loss_from_views(self, views: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The loss from V view embeddings (B, d); with k-language rows, ``views`` are the
        k slots and ``labels`` (B, k) their language indices (see the class docstring)."""
        if self.n_languages is not None:
            if labels is None:
                raise ValueError("k-language rows need each row's languages as labels")
            views, present = slot_views(views, labels, self.n_languages)
            if self.denominator == "negatives":
                return decoupled_infonce(views, self.temperature, self.pairs, present=present)
            return self.compute_masked_loss(views, present)
        if self.denominator == "negatives":
            return decoupled_infonce(views, self.temperature, self.pairs)
        return super().compute_loss_from_views(views, labels)

    def compute_masked_loss(self, views: list[Tensor], present: Tensor) -> Tensor:
        """The loss of language views (B, d) each, ``present`` (V, B) marking the languages
        each row holds (see the class docstring)."""
        total, count = views[0].sum() * 0.0, 0
        for a, b in language_pairs(len(views), self.pairs):
            anchors = present[a] & present[b]  # (B,)
            n_anchors = int(anchors.sum())
            if n_anchors == 0:
                continue
            # anchors' own rows first, so row i's positive is column i; then the other
            # rows holding b (negatives only)
            others = present[b] & ~present[a]
            candidates = torch.cat([anchors.nonzero()[:, 0], others.nonzero()[:, 0]])
            logits = cosine_matrix(views[a][anchors], views[b][candidates]) / self.temperature
            total = total + self.pair_loss(logits, a, b, None) * n_anchors
            count += n_anchors
        return total / max(count, 1)

    def pair_loss(self, logits: Tensor, a: int, b: int, labels: Tensor | None) -> Tensor:
        targets = torch.arange(logits.size(0), device=logits.device)  # (B,): the diagonal
        return F.cross_entropy(logits, targets)

    def get_config_dict(self) -> dict[str, Any]:
        config = {**super().get_config_dict(), "denominator": self.denominator}
        if self.n_languages is not None:
            config["n_languages"] = self.n_languages
        return config
