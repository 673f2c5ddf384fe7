"""The project's training objectives, one small module per file, and the factory that
builds a run's objective from its resolved params."""

from __future__ import annotations

from sentence_transformers import SentenceTransformer
from torch import nn

from mwalign.train.losses.drift import DriftRegularised
from mwalign.train.losses.embedding_mse import EmbeddingMSE
from mwalign.train.losses.enx_infonce import EnXInfoNCE
from mwalign.train.losses.multiway_infonce import MultiwayInfoNCE
from mwalign.train.losses.pairwise import PairwiseViewLoss
from mwalign.train.losses.similarity_mse import SimilarityMSE
from mwalign.train.losses.soft_contrastive import SoftContrastive
from mwalign.train.params import k_language_rows

__all__ = [
    "DriftRegularised",
    "EmbeddingMSE",
    "EnXInfoNCE",
    "MultiwayInfoNCE",
    "PairwiseViewLoss",
    "SimilarityMSE",
    "SoftContrastive",
    "LOSS_SETTINGS",
    "build_loss",
    "loss_settings",
]

# The train keys each objective's loss reads, as build_loss passes them (train.pairs, which
# every pairwise loss reads, aside): what the model card states and a failed run names.
LOSS_SETTINGS = {
    "infonce": ("temperature", "denominator", "row_languages"),
    "soft": ("soft_temperature", "teacher_temperature", "label_strategy", "tcm", "tcm_lambda"),
    "similarity_mse": ("soft_temperature", "label_strategy"),
    "embedding_mse": (),
}


def loss_settings(params: dict) -> dict:
    """train key -> value of the settings the run's objective reads (:data:`LOSS_SETTINGS`)."""
    objective = params["objective"]
    if objective not in LOSS_SETTINGS:
        raise ValueError(f"unknown objective {objective!r}; allowed: {list(LOSS_SETTINGS)}")
    return {key: params["train"][key] for key in LOSS_SETTINGS[objective]}


def build_loss(params: dict, model: SentenceTransformer, teacher_dim: int | None) -> nn.Module:
    """The loss module of a run (``params`` from :func:`mwalign.train.params.train_params`).

    ``teacher_dim`` is the teacher embedding size (None for objectives without teacher).
    """
    hyper, objective = params["train"], params["objective"]
    if objective == "infonce":
        if params["data"] == "enx":
            return EnXInfoNCE(
                model,
                temperature=hyper["temperature"],
                pairs=hyper["pairs"],
                denominator=hyper["denominator"],
            )
        # k-language rows: each row's sentences come with their languages as labels
        n_languages = len(params["languages"]) + 1 if k_language_rows(params) else None
        return MultiwayInfoNCE(
            model,
            temperature=hyper["temperature"],
            pairs=hyper["pairs"],
            denominator=hyper["denominator"],
            n_languages=n_languages,
        )
    if objective == "embedding_mse":
        return EmbeddingMSE(model, model.get_embedding_dimension(), teacher_dim)
    # The teacher objectives have their own tau (IMASCL's 0.1), not InfoNCE's temperature.
    common = {"temperature": hyper["soft_temperature"], "pairs": hyper["pairs"]}
    if objective == "soft":
        return SoftContrastive(
            model,
            teacher_temperature=hyper["teacher_temperature"],
            label_strategy=hyper["label_strategy"],
            tcm=hyper["tcm"],
            tcm_lambda=hyper["tcm_lambda"],
            **common,
        )
    if objective == "similarity_mse":
        return SimilarityMSE(model, label_strategy=hyper["label_strategy"], **common)
    raise ValueError(f"unknown objective {objective!r}; allowed: {list(LOSS_SETTINGS)}")
