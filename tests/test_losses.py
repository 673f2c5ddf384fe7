"""Loss modules of the train stage against hand-computed values and library references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from mwalign.train.losses import (
    EmbeddingMSE,
    EnXInfoNCE,
    MultiwayInfoNCE,
    SimilarityMSE,
    SoftContrastive,
)
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


def test_soft_targets_from_one_hot_teacher_reduce_to_hard_loss():
    torch.manual_seed(2)
    views = [torch.randn(6, 8, requires_grad=True) for _ in range(3)]
    one_hot = torch.eye(6, 10)[:, None, :]  # (B, 1, d_t): orthonormal teacher -> T = I
    hard = MultiwayInfoNCE(None, temperature=0.1).compute_loss_from_views(views)
    soft = SoftContrastive(None, temperature=0.1, teacher_temperature=1e-3)
    assert soft.compute_loss_from_views(views, one_hot).item() == pytest.approx(
        hard.item(), rel=1e-6
    )
    per_view = one_hot.expand(6, 3, 10)  # the average strategy reads every view's teacher side
    average = SoftContrastive(None, 0.1, teacher_temperature=1e-3, label_strategy="average")
    assert average.compute_loss_from_views(views, per_view).item() == pytest.approx(
        hard.item(), rel=1e-6
    )


def test_soft_contrastive_hand_computed_with_tcm():
    en = unit([1.0, 0.0], [0.0, 1.0])
    de = unit([1.0, 0.0], [1.0, 1.0])
    teacher = unit([1.0, 0.0], [0.6, 0.8])[:, None, :]  # T = [[1, .6], [.6, 1]]
    tau, tau_t, lam = 0.5, 0.25, 0.3
    w_same = math.exp(1 / tau_t) / (math.exp(1 / tau_t) + math.exp(0.6 / tau_t))
    weights = [[w_same, 1 - w_same], [1 - w_same, w_same]]

    def soft_ce(sims: list[list[float]]) -> float:
        total = 0.0
        for i, row in enumerate(sims):
            log_z = math.log(sum(math.exp(v / tau) for v in row))
            total -= sum(weights[i][j] * (row[j] / tau - log_z) for j in range(2))
        return total / 2

    c = 1 / math.sqrt(2)
    s_en_de = [[1.0, c], [0.0, c]]  # cos(en_i, de_j)
    s_de_en = [[1.0, 0.0], [c, c]]
    cross = (soft_ce(s_en_de) + soft_ce(s_de_en)) / 2
    mono = (soft_ce([[1.0, 0.0], [0.0, 1.0]]) + soft_ce([[1.0, c], [c, 1.0]])) / 2
    plain = SoftContrastive(None, temperature=tau, teacher_temperature=tau_t)
    tcm = SoftContrastive(
        None, temperature=tau, teacher_temperature=tau_t, tcm=True, tcm_lambda=lam
    )
    assert plain.compute_loss_from_views([en, de], teacher).item() == pytest.approx(cross, rel=1e-6)
    assert tcm.compute_loss_from_views([en, de], teacher).item() == pytest.approx(
        lam * cross + mono, rel=1e-6
    )


def test_average_strategy_needs_every_view_from_the_teacher():
    loss = SoftContrastive(None, label_strategy="average")
    with pytest.raises(ValueError, match="teacher.languages"):
        loss.compute_loss_from_views([torch.randn(3, 4)] * 2, torch.randn(3, 1, 4))


def test_similarity_mse_hand_computed():
    en = unit([1.0, 0.0], [0.0, 1.0])
    de = unit([1.0, 1.0], [0.0, 1.0])
    teacher_en = unit([1.0, 0.0], [0.6, 0.8])
    teacher_de = unit([0.0, 1.0], [0.0, 1.0])  # T_de = all ones
    tau = 0.5
    c = 1 / math.sqrt(2)
    student = [[c, 0.0], [c, 1.0]]  # cos(en_i, de_j); the (de, en) pair sees its transpose
    t_priority = [[1.0, 0.6], [0.6, 1.0]]
    t_average = [[1.0, 0.8], [0.8, 1.0]]

    def mse(target: list[list[float]]) -> float:
        # the (de, en) pair repeats the transposed terms of a symmetric target: same mean
        return (
            sum((student[i][j] - target[i][j]) ** 2 for i in range(2) for j in range(2))
            / 4
            / tau**2
        )

    labels = torch.stack([teacher_en, teacher_de], dim=1)  # (B, 2, d_t)
    priority = SimilarityMSE(None, temperature=tau).compute_loss_from_views([en, de], labels[:, :1])
    average = SimilarityMSE(None, temperature=tau, label_strategy="average")
    assert priority.item() == pytest.approx(mse(t_priority), rel=1e-6)
    assert average.compute_loss_from_views([en, de], labels).item() == pytest.approx(
        mse(t_average), rel=1e-6
    )


def test_embedding_mse_hand_computed_and_projection(tmp_path):
    teacher = torch.tensor([[1.0, 0.0], [0.0, 1.0]])[:, None, :]
    en = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    de = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    loss = EmbeddingMSE(None, student_dim=2, teacher_dim=2)
    # en: squared errors 0 + 1 over 4 entries; de: 1 + 0 over 4 entries
    assert loss.compute_loss_from_views([en, de], teacher).item() == pytest.approx(0.25)
    assert loss.projection is None and not loss.save_projection(tmp_path / "none")
    projected = EmbeddingMSE(None, student_dim=3, teacher_dim=2)
    assert projected.project(torch.randn(4, 3)).shape == (4, 2)
    assert projected.save_projection(tmp_path / "projection")
    from sentence_transformers.base.modules import Dense

    reloaded = Dense.load(str(tmp_path / "projection"))
    assert torch.equal(reloaded.linear.weight, projected.projection.linear.weight)
