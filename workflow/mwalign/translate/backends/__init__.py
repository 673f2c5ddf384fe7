"""Translation backends behind one small interface.

A backend is built from the shard's config slice (see
:func:`mwalign.translate.params.translate_params`); it loads its tokenizer when built and
its model on first use, so a shard whose batches are all finished loads no model.
"""

from __future__ import annotations

from typing import Protocol


class Backend(Protocol):
    name: str  # "reference", "transformers", "ctranslate2", "vllm"
    model: str  # what produced the translations (model id, Bible edition)
    generated_tokens: int  # output tokens produced so far (0 where not meaningful)

    def load(self) -> None:
        """Load the model (or start the engine) now; later calls do nothing."""

    def check_corpus(self, sources: list[str]) -> None:
        """Raise ValueError if the corpus (its ``source`` column) cannot be translated."""

    def source_lengths(self, texts: list[str]) -> list[int]:
        """Length of each source text in the model's tokens (no prompt)."""

    def input_lengths(self, texts: list[str]) -> list[int]:
        """Length of each model input in tokens (prompt included), for batching."""

    def has_unknown(self, texts: list[str]) -> list[bool]:
        """Whether the tokenizer maps part of each text to its unknown token."""

    def truncate(self, text: str, max_tokens: int) -> str:
        """``text`` cut to its first ``max_tokens`` tokens."""

    def translate(self, texts: list[str], refs: list[str]) -> list[str]:
        """Translations of one batch, in order (``refs`` locate rows in the source corpus)."""

    def provenance(self) -> dict:
        """Model ids, revisions, dtype, device: what the stats record."""


def make_backend(params: dict, seed: int, *, model_dir: str | None = None) -> Backend:
    """The backend named by ``params['backend']``, set up for ``params['language']``.

    ``model_dir`` is the translator folder (fetch_model's output) of the transformers and
    vllm backends; the reference backend takes none, ctranslate2 reads its converted copy.
    """
    name = params["backend"]
    settings = params[name]
    lang = params["language"]
    if name == "reference":
        from mwalign.translate.backends.reference import ReferenceBackend

        return ReferenceBackend(settings, lang)
    if name in ("transformers", "vllm") and not model_dir:
        raise ValueError(f"translate backend {name!r} needs its model folder; none was given")
    if name == "transformers":
        from mwalign.translate.backends.transformers_backend import TransformersBackend

        return TransformersBackend(settings, lang, seed, model_dir=model_dir)
    if name == "ctranslate2":
        from mwalign.translate.backends.ctranslate2_backend import CTranslate2Backend

        return CTranslate2Backend(settings, lang, seed)
    if name == "vllm":
        from mwalign.translate.backends.vllm_backend import VllmBackend

        return VllmBackend(settings, lang, seed, model_dir=model_dir)
    raise ValueError(
        f"unknown translation backend {name!r}; allowed: reference, transformers, ctranslate2, vllm"
    )
