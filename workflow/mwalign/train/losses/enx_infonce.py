"""En-X InfoNCE: symmetric InfoNCE between English and the row's one target language."""

from __future__ import annotations

from torch import Tensor

from mwalign.train.losses.multiway_infonce import MultiwayInfoNCE


class EnXInfoNCE(MultiwayInfoNCE):
    """:class:`MultiwayInfoNCE` restricted to exactly two views: English and its target X.

    Inputs: ``sentence_features`` holds two tokenised views of B rows, English first.
    The loss is the mean of the English->X and X->English cross-entropies of the (B, B)
    cosine matrix divided by the temperature: sentence-transformers'
    MultipleNegativesRankingLoss in its symmetric, per-direction form. With
    ``denominator: negatives`` each of the 2B sentences is an anchor with one positive
    (its row's other view) and the 2(B - 1) sentences of the other rows, in both
    languages, as negatives (Yeh et al.'s Eq. 6).
    """

    def compute_loss_from_views(self, views: list[Tensor], labels: Tensor | None = None) -> Tensor:
        if len(views) != 2:
            raise ValueError(f"En-X InfoNCE takes two views (English, target), got {len(views)}")
        return super().compute_loss_from_views(views, labels)
