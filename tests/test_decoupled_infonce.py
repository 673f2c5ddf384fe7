"""The ``negatives`` denominator of the infonce objective against a hand transcription.

Reference: Eq. 1 of the paper (the denominator holds the negatives only) and Yeh et al.,
"Decoupled Contrastive Learning" (ECCV 2022), Eq. 6: for anchor i with positive p,

    l(i, p) = -s(i, p) / tau + log sum_{n in N(i)} exp(s(i, n) / tau),

N(i) being every sentence of the other rows, in every view. Several positives per anchor
(a row holds a group of V sentences): each positive gives its own term, averaged over
the anchor's positives, then over the anchors (docs/objectives.md). Transcribed below
in plain loops over float64 tensors; the project computes it with masked matrices.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from mwalign.train.losses import EnXInfoNCE, MultiwayInfoNCE, build_loss

TAU = 0.07


def cos(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(x @ y / (x.norm() * y.norm()))


def hand_decoupled(views: list[torch.Tensor], tau: float, english_only: bool = False) -> float:
    """Per anchor (view a, row r): positives are (b, r) for the scored b != a; negatives are
    (v, r') for every view v and every row r' != r. Plain loops, Python floats."""
    n_views, n_rows = len(views), views[0].shape[0]
    anchor_losses = []
    for a in range(n_views):
        for r in range(n_rows):
            anchor = views[a][r]
            positives = [b for b in range(n_views) if b != a and (not english_only or 0 in (a, b))]
            negatives = [
                views[v][other] for v in range(n_views) for other in range(n_rows) if other != r
            ]
            log_denominator = math.log(sum(math.exp(cos(anchor, n) / tau) for n in negatives))
            terms = [-cos(anchor, views[b][r]) / tau + log_denominator for b in positives]
            anchor_losses.append(sum(terms) / len(terms))
    return sum(anchor_losses) / len(anchor_losses)


def random_views(count: int, rows: int, dim: int = 5, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(rows, dim, generator=generator, dtype=torch.float64) for _ in range(count)]


@pytest.mark.parametrize("pairs", ["all", "english"])
def test_group_of_four_equals_hand_transcription(pairs):
    """Four views (a group of four positives per row: three positives per anchor)."""
    views = random_views(4, rows=3)
    loss = MultiwayInfoNCE(None, temperature=TAU, pairs=pairs, denominator="negatives")
    got = loss.compute_loss_from_views(views)
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(hand_decoupled(views, TAU, pairs == "english"), rel=1e-12)


def test_enx_two_views_equal_hand_transcription_of_yeh_eq6():
    views = random_views(2, rows=4, seed=1)
    loss = EnXInfoNCE(None, temperature=TAU, denominator="negatives")
    assert loss.compute_loss_from_views(views).item() == pytest.approx(
        hand_decoupled(views, TAU), rel=1e-12
    )


def test_negatives_form_is_standard_infonce_minus_the_positive_in_the_denominator():
    """With two views and two rows, standard InfoNCE's denominator adds the positive and
    pools only the other view; written out by hand for one anchor, both forms differ by
    exactly that, and the standard default is unchanged."""
    views = random_views(2, rows=2, seed=2)
    standard = MultiwayInfoNCE(None, temperature=TAU).compute_loss_from_views(views).item()
    by_hand = []
    for a, b in ((0, 1), (1, 0)):
        for r in range(2):
            row = [cos(views[a][r], views[b][c]) / TAU for c in range(2)]
            by_hand.append(-row[r] + math.log(sum(math.exp(x) for x in row)))
    assert standard == pytest.approx(sum(by_hand) / len(by_hand), rel=1e-12)
    decoupled = MultiwayInfoNCE(None, temperature=TAU, denominator="negatives")
    assert decoupled.compute_loss_from_views(views).item() != pytest.approx(standard)


def test_low_cosine_positive_keeps_its_pull():
    """The decoupled gradient on a positive's similarity is -1/tau whatever its cosine;
    standard InfoNCE's shrinks as the positive wins its softmax."""
    anchor = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    positive = torch.tensor([[1.0, 0.05], [0.05, 1.0]], dtype=torch.float64, requires_grad=True)
    grads = {}
    for denominator in ("standard", "negatives"):
        positive.grad = None
        loss = MultiwayInfoNCE(None, temperature=TAU, pairs="all", denominator=denominator)
        loss.compute_loss_from_views([anchor, positive]).backward()
        grads[denominator] = positive.grad.norm().item()
    assert grads["negatives"] > 10 * grads["standard"]


def test_build_loss_passes_the_denominator_and_rejects_unknown_ones():
    params = {
        "objective": "infonce",
        "data": "enx",
        "train": {"temperature": TAU, "pairs": "all", "denominator": "negatives"},
    }
    loss = build_loss(params, None, None)
    assert isinstance(loss, EnXInfoNCE)
    assert loss.get_config_dict()["denominator"] == "negatives"
    with pytest.raises(ValueError, match="unknown denominator 'both'.*standard"):
        MultiwayInfoNCE(None, denominator="both")


def test_one_row_has_no_negatives():
    with pytest.raises(ValueError, match="at least 2 rows"):
        MultiwayInfoNCE(None, denominator="negatives").compute_loss_from_views(
            [F.normalize(torch.randn(1, 3), dim=-1)] * 2
        )


def hand_decoupled_rows(rows: list[dict[int, torch.Tensor]], tau: float) -> float:
    """k-language rows: row r holds the sentences ``rows[r]`` (language -> embedding). Each
    anchor (r, a) has positives its row's other languages and negatives every sentence of
    every other row; languages a row lacks do not exist. Plain loops, Python floats."""
    anchor_losses = []
    for r, row in enumerate(rows):
        for a, anchor in row.items():
            negatives = [s for other, o in enumerate(rows) if other != r for s in o.values()]
            log_denominator = math.log(sum(math.exp(cos(anchor, n) / tau) for n in negatives))
            terms = [-cos(anchor, p) / tau + log_denominator for b, p in row.items() if b != a]
            anchor_losses.append(sum(terms) / len(terms))
    return sum(anchor_losses) / len(anchor_losses)


def test_k_language_rows_equal_hand_transcription_over_the_sentences_rows_hold():
    """Rows of 2 or 3 of 4 languages: a placeholder for a missing language is neither an
    anchor, a positive nor a negative, whatever its value."""
    languages = [[0, 1, 3], [0, 2], [1, 2, 3], [0, 3]]
    views = random_views(4, rows=len(languages), seed=3)
    present = torch.tensor([[v in langs for langs in languages] for v in range(4)])
    rows = [{v: views[v][r] for v in langs} for r, langs in enumerate(languages)]
    expected = hand_decoupled_rows(rows, TAU)
    from mwalign.train.losses.decoupled import decoupled_infonce

    got = decoupled_infonce(views, TAU, "all", present=present)
    assert got.item() == pytest.approx(expected, rel=1e-12)
    # placeholders changed: the same loss
    noisy = [v.clone() for v in views]
    for v in range(4):
        noisy[v][~present[v]] = 100.0
    assert decoupled_infonce(noisy, TAU, "all", present=present).item() == pytest.approx(
        expected, rel=1e-12
    )
