"""Writing a model folder of either kind from a source folder.

An ``encoder`` folder is a sentence-transformers folder: copied as is, or a plain
transformers encoder wrapped as Transformer + mean Pooling + Normalize
(:func:`save_mean_pooled`). A ``translator`` folder is a plain transformers folder: the
source copied (hard links where possible), or a GGUF file of it dequantised
(:func:`mwalign.models.gguf.gguf_to_folder`). Used by the hub, local and packaged sources
of :mod:`mwalign.models.fetch` and :mod:`mwalign.models.packaged`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mwalign.models import gguf

# Formats a PyTorch model never needs: skipped when downloading or copying a snapshot.
HUB_IGNORE = ["*.onnx", "onnx/*", "openvino/*", "*.h5", "*.msgpack", "*.ot", "tf_model*",
              "flax_model*", "rust_model*", "*.tflite", "coreml/*", "*.gguf"]  # fmt: skip


def source_info(model_id: str, source: str, provenance: str, revision: str | None = None) -> dict:
    """The start of a folder's record: id, source (local, hub, packaged), provenance text."""
    return {"model_id": model_id, "source": source, "provenance": provenance, "revision": revision}


def link_or_copy(src: str, dst: str) -> None:
    """Hard-link ``src`` (resolving symlinks, as in the HF cache) to ``dst``; copy if impossible."""
    try:
        os.link(os.path.realpath(src), dst)
    except OSError:
        shutil.copy2(src, dst)


def save_as(src: Path, dest: Path, want: dict, allow_remote_code: bool) -> None:
    """Save the model folder ``src`` as the kind of folder ``want`` asks for
    (``want``: ``{"model_id", "kind", "gguf_file"}``)."""
    if want["kind"] == "encoder":
        save_encoder(src, dest, allow_remote_code)
    elif want["gguf_file"] is not None:
        gguf.gguf_to_folder(source=src, gguf_file=want["gguf_file"], dest=dest)
    else:
        ignore = shutil.ignore_patterns(".git", ".cache", *HUB_IGNORE)
        shutil.copytree(src, dest, copy_function=link_or_copy, ignore=ignore)


def save_encoder(src: Path, dest: Path, allow_remote_code: bool) -> None:
    """Copy a sentence-transformers folder, or wrap a plain HF encoder as one (mean + Normalize)."""
    if (src / "modules.json").is_file():
        shutil.copytree(
            src, dest, copy_function=link_or_copy, ignore=shutil.ignore_patterns(".git", ".cache")
        )
    else:
        save_mean_pooled(src, dest, allow_remote_code)


def st_modules():
    """sentence-transformers' module classes (Transformer, Pooling, Normalize)."""
    try:
        from sentence_transformers.sentence_transformer import modules
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import models as modules
    return modules


def save_mean_pooled(
    hf_dir: Path, dest: Path, allow_remote_code: bool, max_seq_length: int | None = None
) -> None:
    """Save ``hf_dir`` (a transformers encoder + tokenizer) as Transformer + mean + Normalize."""
    from sentence_transformers import SentenceTransformer

    modules = st_modules()
    # Always explicit: left unset (None), transformers asks on stdin whether to run the code.
    remote = {"trust_remote_code": bool(allow_remote_code)}
    kwargs = {"model_kwargs": remote, "config_kwargs": remote, "processor_kwargs": remote}
    transformer = modules.Transformer(str(hf_dir), max_seq_length=max_seq_length, **kwargs)
    pooling = modules.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling, modules.Normalize()], device="cpu")
    model.save(str(dest))
