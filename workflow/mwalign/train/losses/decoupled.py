"""The decoupled InfoNCE denominator (Eq. 1 of the paper; Yeh et al., 2022): every
anchor's log-sum-exp runs over its negatives only, never over its positives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mwalign.train.losses.views import PairSelection, language_pairs

DENOMINATORS = ("standard", "negatives")


def decoupled_infonce(
    views: list[Tensor], temperature: float, pairs: PairSelection, present: Tensor | None = None
) -> Tensor:
    """Decoupled multi-positive InfoNCE of V views of B rows (each (B, d), view 0 English).

    The batch holds N = V * B sentences; sentence (v, r) is row r in view v, and the V
    sentences of row r are one positive group. With s(i, j) the cosine of sentences i
    and j and tau the temperature, anchor i = (a, r) has

    - positives P(i) = {(b, r) : (a, b) a scored pair}: its row's other views that the
      pair selection scores against view a (``all``: every other view; ``english``:
      English for a target-language anchor, every target for an English anchor);
    - negatives N(i) = {(v, r') : r' != r, every view v}: every other row's sentence in
      every language of the batch, the anchor's own language included, never a
      sentence of the anchor's own group;

    and each positive p in P(i) gives the term

        l(i, p) = -s(i, p) / tau + log sum_{n in N(i)} exp(s(i, n) / tau).

    The loss is the mean over anchors of the mean over the anchor's positives:

        L = 1 / |A| sum_{i in A} 1 / |P(i)| sum_{p in P(i)} l(i, p),

    A being every sentence with at least one positive (all N sentences for both pair
    selections). Unlike standard InfoNCE, -log(e^{s_ip/tau} / (e^{s_ip/tau} + sum_n
    e^{s_in/tau})), no positive sits in a denominator, so a positive's gradient does
    not fade as it approaches its anchor (low-cosine positives keep their pull) and
    one positive never acts as another's negative. With two views (En-X) this is Yeh et
    al.'s Eq. 6, whose negatives are both views of the other samples.

    Where the standard form scores each ordered view pair (a, b) over view b's B
    candidates, this form pools one anchor's negatives over all views: (B - 1) * V of
    them. Needs B >= 2 (an anchor without negatives has no loss).

    k-language rows: ``present`` (V, B) marks the languages each row holds; a sentence
    (v, r) with ``present[v, r]`` False is a placeholder, neither an anchor, a positive
    nor a negative, so the sets above run over the sentences the batch really has.
    """
    count, dim = len(views), views[0].size(0)
    if dim < 2:
        raise ValueError(f"the negatives-only denominator needs at least 2 rows, got {dim}")
    scored = set(language_pairs(count, pairs))
    embeddings = F.normalize(torch.cat(views), dim=-1)  # (V*B, d), index v * B + r
    logits = embeddings @ embeddings.T / temperature  # (V*B, V*B)
    index = torch.arange(count * dim, device=logits.device)
    row, view = index % dim, index // dim  # (V*B,) each
    group = row[:, None] == row[None, :]  # (V*B, V*B): same row, the diagonal included
    pair_mask = torch.tensor(
        [[(a, b) in scored for b in range(count)] for a in range(count)], device=logits.device
    )  # (V, V)
    positive = group & pair_mask[view][:, view]  # (V*B, V*B)
    excluded = group
    if present is not None:
        real = present.to(logits.device).reshape(-1)  # (V*B,), index v * B + r
        positive = positive & real[:, None] & real[None, :]
        excluded = group | ~real[None, :]
    negatives_lse = torch.logsumexp(logits.masked_fill(excluded, float("-inf")), dim=1)
    positives = positive.sum(dim=1)  # (V*B,)
    anchors = positives > 0  # (a placeholder has no positive: never an anchor)
    mean_positive = (logits * positive).sum(dim=1)[anchors] / positives[anchors]
    return (negatives_lse[anchors] - mean_positive).mean()
