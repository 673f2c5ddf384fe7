"""Soft contrastive loss (IMASCL): the monolingual teacher's similarities, not the
identity, say how much each in-batch sentence counts as a positive."""

from __future__ import annotations

from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from torch import Tensor

from mwalign.train.losses.pairwise import PairwiseViewLoss
from mwalign.train.losses.views import (
    LABEL_STRATEGIES,
    PairSelection,
    cosine_matrix,
    language_pairs,
    soft_cross_entropy,
    teacher_similarity,
)


class SoftContrastive(PairwiseViewLoss):
    """IMASCL's soft contrastive loss, optionally with TCM.

    For every scored ordered view pair (a, b) the targets are w_ab = row_softmax(T_ab /
    tau_t), T_ab the teacher similarity of the pair (chosen by ``label_strategy``, see
    :func:`~mwalign.train.losses.views.teacher_similarity`), and

        L_ab = -1/B sum_ij w_ab,ij log softmax_j(S_ab,ij / tau)

    with S_ab the student's (B, B) cosine matrix. L_cross is the mean of L_ab over the
    pairs. With ``tcm`` each pair also scores the two languages' own spaces against the
    PAIR's targets, M_ab = (L(S_aa, w_ab) + L(S_bb, w_ab)) / 2, and
    L = lambda * L_cross + L_mono, L_mono the mean of M_ab over the same pairs.

    Inputs: ``sentence_features``, V >= 2 tokenised views of the same B sentence ids
    (view 0 English), and ``labels``, the precomputed L2-normalised teacher embeddings
    (B, V_t, d_t): English only (V_t = 1) or one per view (``pair_priority`` on
    multi-way data and ``average`` need one per view). Output: a scalar loss.

    Implements IMASCL's ``AMETrainer.compute_loss`` (``loss_type CS``, ``w_func
    Softmax``, margin 0, one tau 0.1 for targets and student) with one deviation: a
    pair's two directions are averaged, not summed, so the reference loss is 2x this
    loss (4x with TCM at lambda = 0.5). docs/objectives.md derives what that means for
    gradients and clipping and lists the reference tests (tests/test_imascl.py).

    Args:
        model: the student being trained.
        temperature: tau of the student softmax (IMASCL: 0.1).
        teacher_temperature: tau_t of the targets (IMASCL: the same tau, 0.1).
        label_strategy: ``priority``, ``pair_priority`` or ``average``.
        tcm: add the monolingual terms.
        tcm_lambda: weight of the cross-lingual term when ``tcm`` is on.
        pairs, gather_across_devices: see :class:`PairwiseViewLoss`.

    Example::

        loss = SoftContrastive(model, temperature=0.1, teacher_temperature=0.1, tcm=True)
        english, german = torch.randn(8, 384), torch.randn(8, 384)  # (B, d) view embeddings
        teacher = F.normalize(torch.randn(8, 1, 384), dim=-1)  # (B, V_t = 1, d_t)
        value = loss.compute_loss_from_views([english, german], teacher)  # scalar

    In training, sentence-transformers' Trainer calls the loss with the tokenised views
    and the teacher embeddings of each batch as labels.

    Citation (code: github.com/YAI12xLinq-B/IMASCL)::

        @inproceedings{park2024imascl,
            title = "Improving Multi-lingual Alignment Through Soft Contrastive Learning",
            author = "Park, Minsu and Choi, Seyeon and Choi, Chanyeol and Kim, Jun-Seong
                and Sohn, Jy-yong",
            booktitle = "NAACL 2024 Student Research Workshop",
            year = "2024",
            eprint = "2405.16155",
            archivePrefix = "arXiv",
        }
    """

    def __init__(
        self,
        model: SentenceTransformer | None,
        temperature: float = 0.1,
        teacher_temperature: float = 0.1,
        label_strategy: str = "priority",
        tcm: bool = False,
        tcm_lambda: float = 0.5,
        pairs: PairSelection = "all",
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(model, temperature, pairs, gather_across_devices)
        if not teacher_temperature > 0:
            raise ValueError(f"teacher_temperature must be positive, got {teacher_temperature}")
        if label_strategy not in LABEL_STRATEGIES:
            raise ValueError(
                f"unknown label strategy {label_strategy!r}; allowed: {list(LABEL_STRATEGIES)}"
            )
        self.teacher_temperature = teacher_temperature
        self.label_strategy = label_strategy
        self.tcm = tcm
        self.tcm_lambda = tcm_lambda

    def soft_targets(self, labels: Tensor, a: int, b: int) -> Tensor:
        """w = row_softmax(T_ab / teacher_temperature): (B, B), rows sum to 1."""
        similarity = teacher_similarity(labels, a, b, self.label_strategy)  # (B, B)
        return torch.softmax(similarity / self.teacher_temperature, dim=-1)

    def pair_loss(self, logits: Tensor, a: int, b: int, labels: Tensor | None) -> Tensor:
        if labels is None:
            raise ValueError("the soft contrastive loss needs teacher embeddings as labels")
        return soft_cross_entropy(logits, self.soft_targets(labels, a, b))

    def compute_loss_from_views(self, views: list[Tensor], labels: Tensor | None = None) -> Tensor:
        if not self.tcm:
            return super().compute_loss_from_views(views, labels)
        if labels is None:
            raise ValueError("the soft contrastive loss needs teacher embeddings as labels")
        own = [cosine_matrix(view, view) / self.temperature for view in views]  # V x (B, B)
        cross, mono = [], []
        for a, b in language_pairs(len(views), self.pairs):
            targets = self.soft_targets(labels, a, b)  # the pair's targets, also for S_aa, S_bb
            logits = cosine_matrix(views[a], views[b]) / self.temperature
            cross.append(soft_cross_entropy(logits, targets))
            mono.append(
                0.5 * (soft_cross_entropy(own[a], targets) + soft_cross_entropy(own[b], targets))
            )
        return self.tcm_lambda * torch.stack(cross).mean() + torch.stack(mono).mean()

    def get_config_dict(self) -> dict[str, Any]:
        return {
            **super().get_config_dict(),
            "teacher_temperature": self.teacher_temperature,
            "label_strategy": self.label_strategy,
            "tcm": self.tcm,
            "tcm_lambda": self.tcm_lambda,
        }
