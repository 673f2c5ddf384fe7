"""A sentence-transformers model as an mteb encoder, with an embedding cache.

The model applies its own input prefix: the default prompt of sentence-transformers
(``prompts`` / ``default_prompt_name``), which a trained folder saves and a base student
gets when it is loaded (:func:`mwalign.models.load.apply_student_settings`). This encoder never
adds it again; it only keys its cache by the text as the model sees it.

mteb asks an encoder for the embeddings of one column at a time (in bitext mining,
the English column once per language pair in the non-parallel layout, once per task
in the parallel one). This encoder answers repeated sentences from memory and, with
an :class:`~mwalign.evaluate.caches.EmbeddingStore`, from what earlier tasks of the same
model stored, and counts what it really encoded.

What it encodes goes through the model in batches of equal token length
(:func:`token_length_batches`). ``SentenceTransformer.encode`` sorts its inputs by
characters, which is close to tokens within one language but still pads the
default experiment's evaluation columns by 18% (15 columns x 1,000 verses, e5's
tokenizer); sorted by tokens the padding is 0.1%. Padding is masked, so an embedding
differs from the one ``encode`` gives only by float rounding (the matrix products
have other shapes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from mteb.models import ModelMeta
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ScoringFunction
from tqdm.auto import tqdm

from mwalign.precision import Precision

from .caches import EmbeddingStore, text_key

log = logging.getLogger(__name__)


def _embedding_dimension(model: Any) -> int | None:
    # sentence-transformers >= 6 renamed get_sentence_embedding_dimension
    getter = getattr(model, "get_embedding_dimension", None)
    return (getter or model.get_sentence_embedding_dimension)()


def default_prompt(model: Any) -> str:
    """The prompt ``model.encode`` puts before every input when given none ("" if none)."""
    name = getattr(model, "default_prompt_name", None)
    return (model.prompts.get(name) or "") if name else ""


def token_length_batches(model: Any, texts: list[str], batch_size: int) -> list[np.ndarray]:
    """Indices of ``texts`` in batches of at most ``batch_size``, longest in tokens first.

    Lengths are those the model pads to: its default prompt before each text, its
    tokenizer's special tokens, truncated at ``max_seq_length``. Equal lengths keep
    their order (a stable sort), so the batches are the same on every run.
    """
    if not texts:
        return []
    prompt = default_prompt(model)
    ids = model.tokenizer(
        [prompt + text for text in texts], truncation=True, max_length=model.max_seq_length
    )["input_ids"]
    order = np.argsort(-np.array([len(row) for row in ids]), kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


class CachedSentenceEncoder(AbsEncoder):
    """mteb ``EncoderProtocol`` over a ``SentenceTransformer``.

    Args:
        model: a loaded SentenceTransformer (L2-normalised outputs are not required:
            mteb scores with cosine similarity); or None with ``loader``.
        loader: returns the model; called at the first sentence not found in the cache,
            so a task whose sentences are all cached never loads the model.
        name: model name recorded by mteb (``org/name`` form).
        revision: model revision recorded by mteb (here: the folder's content hash).
        prompt: the model's default prompt (its input prefix, e.g. ``"query: "`` for e5),
            which the model itself puts before every input; the cache is keyed by
            ``prompt + text``. Checked against the loaded model.
        max_seq_length: the model's truncation length, recorded in mteb's model metadata.
        precision: the forward pass's precision (:func:`mwalign.precision.precision_for`);
            bf16 runs it under bfloat16 autocast (about 1.7x faster on CPUs with native
            bf16; cosine to fp32 embeddings > 0.9999).
        store: persistent embeddings shared across tasks of this model; None keeps
            them in memory for this process only.
        batch_size: sentences per forward pass.
    """

    def __init__(
        self,
        model: Any = None,
        *,
        loader: Callable[[], Any] | None = None,
        name: str,
        revision: str,
        prompt: str = "",
        max_seq_length: int | None = None,
        precision: Precision,
        store: EmbeddingStore | None = None,
        batch_size: int = 32,
    ) -> None:
        if (model is None) == (loader is None):
            raise ValueError("CachedSentenceEncoder needs either a model or a loader")
        self._model = model
        self._loader = loader
        self.prompt = prompt
        self.precision = precision
        self.store = store
        self.batch_size = batch_size
        self._memory: dict[str, np.ndarray] = {}
        self.kernels: dict[str, Any] = {}  # how fp32 runs on a CPU (mwalign.cpu_kernels)
        self.encode_calls = 0  # calls into SentenceTransformer.encode
        self.sentences_requested = 0  # sentences mteb asked for
        self.sentences_encoded = 0  # sentences that went through the model
        self.encode_seconds = 0.0
        self.mteb_model_meta = ModelMeta.create_empty(
            overwrites={
                "name": name,
                "revision": revision,
                "similarity_fn_name": ScoringFunction.COSINE,
                "embed_dim": _embedding_dimension(model) if model is not None else None,
                "max_tokens": model.max_seq_length if model is not None else max_seq_length,
                "framework": ["Sentence Transformers", "PyTorch"],
            }
        )

    @property
    def model(self) -> Any:
        """The SentenceTransformer, loaded on first use."""
        if self._model is None:
            self._model = self._loader()
            applied = default_prompt(self._model)
            if applied != self.prompt:
                raise ValueError(
                    f"the model's default prompt is {applied!r}, but its embeddings are cached "
                    f"under the prompt {self.prompt!r}"
                )
            if self.precision.name == "fp32" and self._model.device.type == "cpu":
                from mwalign.cpu_kernels import choose_fp32_kernels

                self.kernels = choose_fp32_kernels(
                    self._model, tokens=self.batch_size * self._model.max_seq_length
                )
        return self._model

    def encode(
        self,
        inputs: Any,
        *,
        task_metadata: Any,
        hf_split: str,
        hf_subset: str,
        prompt_type: Any = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Embeddings (n, dim) of the texts of an mteb DataLoader, in order."""
        texts = [text for batch in inputs for text in batch["text"]]
        return self.embed(texts)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings (n, dim) of ``texts`` (the model adds its prompt), cached where possible."""
        keys = [text_key(self.prompt + text) for text in texts]
        self.sentences_requested += len(texts)
        if self.store is None:
            self._encode_missing(dict(zip(keys, texts, strict=True)), self._memory)
            return np.stack([self._memory[key] for key in keys])
        with self.store.locked() as store:
            missing = {k: s for k, s in zip(keys, texts, strict=True) if store.get(k) is None}
            new: dict[str, np.ndarray] = {}
            self._encode_missing(missing, new)
            store.add(list(new), np.stack(list(new.values())) if new else np.empty((0, 0)))
            return np.stack([store.get(key) for key in keys])

    def _encode_missing(self, wanted: dict[str, str], into: dict[str, np.ndarray]) -> None:
        todo = {key: text for key, text in wanted.items() if key not in into}
        if not todo:
            return
        start = time.perf_counter()
        texts = list(todo.values())
        batches = token_length_batches(self.model, texts, self.batch_size)
        parts = []
        progress = tqdm(total=len(texts), desc="Encoding", disable=len(batches) < 2)
        with progress, self.precision.autocast(self.model.device.type):
            for batch in batches:
                parts.append(
                    self.model.encode(
                        [texts[i] for i in batch],
                        batch_size=len(batch),
                        convert_to_numpy=True,
                        show_progress_bar=False,
                    )
                )  # (len(batch), dim)
                progress.update(len(batch))
        vectors = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        vectors[np.concatenate(batches)] = np.concatenate(parts)
        seconds = time.perf_counter() - start
        self.encode_calls += 1
        self.sentences_encoded += len(todo)
        self.encode_seconds += seconds
        log.info(
            "encoded %d sentences in %.1f s (%.1f sentences/s)",
            len(todo),
            seconds,
            len(todo) / seconds,
        )
        into.update(zip(todo, vectors, strict=True))

    def record(self) -> dict[str, Any]:
        """How this encoder computes embeddings: backend, precision and why that precision,
        and (fp32 on a CPU, once the model is loaded) which kernels run its linear layers."""
        return {"backend": "torch", **self.precision.record(), **self.kernels}

    def stats(self) -> dict[str, float]:
        """What this encoder did: calls into the model, sentences asked for and encoded, seconds."""
        return {
            "encode_calls": self.encode_calls,
            "sentences_requested": self.sentences_requested,
            "sentences_encoded": self.sentences_encoded,
            "encode_seconds": round(self.encode_seconds, 3),
        }
