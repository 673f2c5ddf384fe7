"""Embedding MSE distillation (sentence-transformers' multilingual distillation): every
language's student embedding is regressed onto the teacher's English embedding."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Dense
from torch import Tensor, nn

from mwalign.train.losses.views import embed_views


class EmbeddingMSE(nn.Module):
    """mean over views of MSE(P(student(x_v)), teacher(English)).

    Inputs: V >= 1 tokenised views of B sentence ids (view 0 English) and ``labels``,
    the precomputed teacher embeddings (B, V_t, d_t), of which the English ones
    (``labels[:, 0]``) are the targets. When the student's dimension differs from the
    teacher's, P is a learned linear projection (a sentence-transformers ``Dense``
    module), saved by :meth:`save_projection`; otherwise P is the identity. The loss is
    per row, so data-parallel gradient averaging needs no gathering.
    """

    def __init__(
        self, model: SentenceTransformer | None, student_dim: int, teacher_dim: int
    ) -> None:
        super().__init__()
        self.model = model
        self.student_dim = student_dim
        self.teacher_dim = teacher_dim
        self.projection = (
            Dense(student_dim, teacher_dim, activation_function=nn.Identity())
            if student_dim != teacher_dim
            else None
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        return self.compute_loss_from_views(embed_views(self.model, sentence_features), labels)

    def project(self, embeddings: Tensor) -> Tensor:
        """(B, student_dim) -> (B, teacher_dim)."""
        if self.projection is None:
            return embeddings
        return self.projection({"sentence_embedding": embeddings})["sentence_embedding"]

    def compute_loss_from_views(self, views: list[Tensor], labels: Tensor | None) -> Tensor:
        if labels is None:
            raise ValueError("the embedding MSE loss needs teacher embeddings as labels")
        target = labels[:, 0]  # (B, d_t): English teacher embeddings
        return torch.stack([F.mse_loss(self.project(view), target) for view in views]).mean()

    def save_projection(self, path: str | os.PathLike) -> bool:
        """Save the learned projection as a sentence-transformers Dense folder, if there is one."""
        if self.projection is None:
            return False
        Path(path).mkdir(parents=True, exist_ok=True)
        self.projection.save(str(path))
        return True

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "student_dim": self.student_dim,
            "teacher_dim": self.teacher_dim,
            "projection": self.projection is not None,
        }
