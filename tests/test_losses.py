"""Loss modules of the train stage against hand-computed values and library references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from mwalign.train.losses import EnXInfoNCE, MultiwayInfoNCE
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss


def unit(*rows: list[float]) -> torch.Tensor:
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


def test_multiway_infonce_two_views_hand_computed():
    en = unit([1.0, 0.0], [0.0, 1.0])
    de = unit([1.0, 1.0], [0.0, 1.0])
    tau = 0.5
    loss = MultiwayInfoNCE(model=None, temperature=tau).compute_loss_from_views([en, de])
    c = 1 / math.sqrt(2)  # cos(en0, de0) = cos(en1, de0) = c, cos(en0, de1) = 0, cos(en1, de1) = 1
    sims = [[c, 0.0], [c, 1.0]]  # sims[i][j] = cos(en_i, de_j)

    def ce(row: list[float], target: int) -> float:
        return -row[target] / tau + math.log(sum(math.exp(v / tau) for v in row))

    en_to_de = (ce(sims[0], 0) + ce(sims[1], 1)) / 2
    de_to_en = (ce([sims[0][0], sims[1][0]], 0) + ce([sims[0][1], sims[1][1]], 1)) / 2
    assert loss.item() == pytest.approx((en_to_de + de_to_en) / 2, rel=1e-6)


def test_two_views_equal_symmetric_multiple_negatives_ranking_loss():
    torch.manual_seed(0)
    en, x = torch.randn(8, 16), torch.randn(8, 16)
    tau = 0.05
    reference = MultipleNegativesRankingLoss(
        model=None,
        scale=1 / tau,
        directions=("query_to_doc", "doc_to_query"),
        partition_mode="per_direction",
    ).compute_loss_from_embeddings([en, x], labels=None)
    ours = EnXInfoNCE(model=None, temperature=tau).compute_loss_from_views([en, x])
    multiway = MultiwayInfoNCE(model=None, temperature=tau).compute_loss_from_views([en, x])
    assert ours.item() == pytest.approx(reference.item(), rel=1e-5)
    assert multiway.item() == pytest.approx(reference.item(), rel=1e-5)


def pair_ce(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / tau
    return F.cross_entropy(logits, torch.arange(len(a)))


def test_multiway_averages_every_ordered_pair_and_english_pairs():
    torch.manual_seed(1)
    views = [torch.randn(5, 8) for _ in range(3)]
    tau = 0.1
    every = [pair_ce(views[a], views[b], tau) for a in range(3) for b in range(3) if a != b]
    english = [pair_ce(views[a], views[b], tau) for a, b in [(0, 1), (0, 2), (1, 0), (2, 0)]]
    all_pairs = MultiwayInfoNCE(None, temperature=tau).compute_loss_from_views(views)
    en_pairs = MultiwayInfoNCE(None, temperature=tau, pairs="english").compute_loss_from_views(
        views
    )
    assert all_pairs.item() == pytest.approx(torch.stack(every).mean().item(), rel=1e-6)
    assert en_pairs.item() == pytest.approx(torch.stack(english).mean().item(), rel=1e-6)


def test_enx_rejects_more_than_two_views():
    with pytest.raises(ValueError, match="two views"):
        EnXInfoNCE(None).compute_loss_from_views([torch.randn(2, 4)] * 3)


@pytest.mark.parametrize("bad", [{"temperature": 0.0}, {"pairs": "some"}])
def test_invalid_options_are_named(bad):
    with pytest.raises(ValueError, match="temperature|pair selection"):
        MultiwayInfoNCE(None, **bad)
