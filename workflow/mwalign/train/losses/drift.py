"""The drift regulariser: an objective plus an L2 pull of every training embedding
towards the frozen pretrained student's embedding of the same sentence."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mwalign.train.losses.views import embed_views, gather_labels, gather_views


def drift_penalty(views: list[Tensor], frozen: Tensor) -> Tensor:
    """mean over the batch's sentences of ||e - f||^2, both L2-normalised, in fp32.

    ``views``: V tensors (B, d), the training embeddings; ``frozen``: (B, V, d), the frozen
    student's embeddings of the same sentences in view order. On unit vectors
    ||e - f||^2 = 2 - 2 cos(e, f), so the term is 0 at the pretrained embedding and at
    most 4.
    """
    current = F.normalize(torch.stack(views, dim=1).float(), dim=-1)  # (B, V, d)
    anchor = F.normalize(frozen.float(), dim=-1)  # (B, V, d)
    return (current - anchor).pow(2).sum(dim=-1).mean()


class DriftRegularised(nn.Module):
    """``objective`` + weight * mean_i ||e_i - f_i||^2 (:func:`drift_penalty`).

    e_i is the embedding of sentence i as training makes it, f_i the pretrained student's
    embedding of the same sentence, precomputed once per (student, dataset) by the frozen
    stage (:mod:`mwalign.frozen`): no step runs a second copy of the model. The mean
    runs over the V * B sentences of this process's batch (data-parallel gradient
    averaging makes it the global batch's mean).

    Inputs: the objective's ``sentence_features`` (V views of B rows) and ``labels`` of
    shape (B, V * d + rest): each row's frozen embeddings, view by view, then the
    objective's own labels flattened (teacher embeddings of shape ``label_shape``, or
    nothing). This module embeds the views once and hands them to the objective's
    ``compute_loss_from_views`` (gathered across processes where the objective gathers),
    so it takes over the objective's ``model``. The forward returns the two terms as a
    dict (``objective``, ``drift``, the latter already weighted); the Trainer sums them
    and logs each.

    Example::

        loss = DriftRegularised(MultiwayInfoNCE(model), weight=0.1, views=3, dim=384)
    """

    def __init__(
        self,
        objective: nn.Module,
        weight: float,
        views: int,
        dim: int,
        label_shape: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if not weight > 0:
            raise ValueError(f"drift weight must be positive, got {weight}")
        self.model = objective.model
        objective.model = None  # embedded here; its state stays out of the loss's own weights
        self.objective = objective
        self.weight = weight
        self.views = views
        self.dim = dim
        self.label_shape = label_shape

    def split_labels(self, labels: Tensor) -> tuple[Tensor, Tensor | None]:
        """(B, V * d + rest) -> frozen (B, V, d) and the objective's labels (or None)."""
        width = self.views * self.dim
        frozen = labels[:, :width].reshape(-1, self.views, self.dim)  # (B, V, d)
        if self.label_shape is None:
            return frozen, None
        return frozen, labels[:, width:].reshape(-1, *self.label_shape)  # (B, V_t, d_t)

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor
    ) -> dict[str, Tensor]:
        frozen, labels = self.split_labels(labels)
        views = embed_views(self.model, sentence_features)  # V x (B, d)
        drift = self.weight * drift_penalty(views, frozen)
        if getattr(self.objective, "gather_across_devices", False):
            views, labels = gather_views(views), gather_labels(labels)  # V x (world*B, d)
        return {"objective": self.objective.compute_loss_from_views(views, labels), "drift": drift}

    def save_projection(self, path: str | os.PathLike) -> bool:
        """The objective's learned projection, where it has one (embedding_mse)."""
        save = getattr(self.objective, "save_projection", None)
        return bool(save and save(path))

    def get_config_dict(self) -> dict[str, Any]:
        return {**self.objective.get_config_dict(), "drift_weight": self.weight}
