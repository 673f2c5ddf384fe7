"""Caches of the evaluate stage, all inside the project tree.

- mteb's own result cache: pointed at a project folder before mteb is first imported
  (mteb creates its default cache folder at import time) and never read: every job
  recomputes, Snakemake decides what is stale.
- :class:`EmbeddingStore`: sentence embeddings of one model, keyed by the exact text
  encoded (prefix included), shared by every task evaluated on that model. Each job
  appends its new embeddings as one shard file written atomically; a lock file makes
  jobs of the same model that run at the same time take turns, so a sentence is
  encoded once per model even then.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

from mwalign.files import atomic_path

log = logging.getLogger(__name__)

FINGERPRINT_SKIP = ("README.md",)


def import_mteb(mteb_cache: str | os.PathLike) -> ModuleType:
    """Import mteb with its result cache (and HF datasets cache, if unset) inside the project.

    Settings already made win: MTEB_CACHE, and HF_HOME or HF_DATASETS_CACHE (where
    mteb tasks download their data; a job started by the workflow has HF_HOME set).
    """
    mteb_cache = Path(mteb_cache).resolve()
    if "mteb" not in sys.modules:
        os.environ.setdefault("MTEB_CACHE", str(mteb_cache))
    if "HF_HOME" not in os.environ and "datasets" not in sys.modules:
        os.environ.setdefault("HF_DATASETS_CACHE", str(mteb_cache.parent / "hf-datasets"))
    import mteb

    return mteb


def model_fingerprint(model_dir: str | os.PathLike) -> str:
    """sha256 over a model folder's files (names and contents), README excluded."""
    root = Path(model_dir)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name in FINGERPRINT_SKIP or path.name.startswith("."):
            continue
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def text_key(text: str) -> str:
    """The cache key of one encoded string (prefix included): its sha256 hex digest."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingStore:
    """Embeddings of one model on disk: ``directory/shard-*.npz`` with keys and vectors.

    ``directory`` should be specific to the model's content (see :func:`model_fingerprint`).
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._vectors: dict[str, np.ndarray] = {}
        self._loaded: set[str] = set()

    @contextlib.contextmanager
    def locked(self) -> Iterator[EmbeddingStore]:
        """Hold the store's lock (other processes wait) and see every shard written so far."""
        with open(self.directory / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._load_new_shards()
                yield self
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load_new_shards(self) -> None:
        for shard in sorted(self.directory.glob("shard-*.npz")):
            if shard.name in self._loaded:
                continue
            with np.load(shard) as data:
                keys, vectors = data["keys"], data["vectors"]
            self._vectors.update(zip(keys.tolist(), vectors, strict=True))
            self._loaded.add(shard.name)

    def get(self, key: str) -> np.ndarray | None:
        return self._vectors.get(key)

    def __len__(self) -> int:
        return len(self._vectors)

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        """Keep ``vectors`` (n, dim) under ``keys`` and write them as one new shard."""
        if not keys:
            return
        name = f"shard-{uuid.uuid4().hex}.npz"
        with atomic_path(self.directory / name) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, keys=np.array(keys, dtype="U64"), vectors=vectors.astype(np.float32))
        self._loaded.add(name)
        self._vectors.update(zip(keys, vectors.astype(np.float32), strict=True))
