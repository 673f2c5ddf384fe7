"""The project's training objectives, one small module per file, and the factory that
builds a run's objective from its resolved params."""

from __future__ import annotations

from datasets import Dataset
from sentence_transformers import SentenceTransformer
from torch import nn

from mwalign.train.losses.enx_infonce import EnXInfoNCE
from mwalign.train.losses.multiway_infonce import MultiwayInfoNCE

__all__ = ["EnXInfoNCE", "MultiwayInfoNCE", "build_loss"]


def build_loss(params: dict, model: SentenceTransformer, dataset: Dataset) -> nn.Module:
    """The loss module of a run (``params`` from :func:`mwalign.train.train_params`)."""
    hyper, objective = params["train"], params["objective"]
    if objective == "infonce":
        loss_class = MultiwayInfoNCE if params["data"] == "multiway" else EnXInfoNCE
        return loss_class(model, temperature=hyper["temperature"], pairs=hyper["pairs"])
    raise ValueError(f"unknown objective {objective!r}; allowed: ['infonce']")
