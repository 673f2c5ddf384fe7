"""Convert a seq2seq translator (NLLB-200, M2M100, Marian) into a CTranslate2 model, once.

The converted folder holds CTranslate2's ``model.bin``, ``config.json`` and vocabulary,
the model's tokenizer under ``tokenizer/`` (CTranslate2 takes tokens, not text), and
``mwalign_ctranslate2.json`` (what was converted, with which versions). Weights are
converted without quantisation: ``translate.ctranslate2.compute_type`` quantises them
when a job loads the model, so changing the compute type never reconverts.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from mwalign.files import read_json, write_json
from mwalign.models.ids import model_slug
from mwalign.paths import CT2_DIR

log = logging.getLogger(__name__)

INFO_FILE = "mwalign_ctranslate2.json"
TOKENIZER_DIR = "tokenizer"


def converted_dir(model_id: str) -> str:
    """Folder that rule convert_ctranslate2 writes the CTranslate2 copy of ``model_id`` into."""
    return f"{CT2_DIR}/{model_slug(model_id)}"


def read_converted_info(folder: str | os.PathLike) -> dict:
    """The ``mwalign_ctranslate2.json`` of a converted folder (what it was converted from)."""
    return read_json(Path(folder) / INFO_FILE)


def convert_model(
    *, model_id: str, model_dir: str | os.PathLike, out_dir: str | os.PathLike
) -> dict:
    """Make ``out_dir`` a CTranslate2 copy of ``model_id``; return its info record.

    ``model_dir`` is the translator folder that fetch_model made of ``model_id`` (its
    record says whether the model's own code may run). The folder
    is built next to ``out_dir`` and renamed into place, so a killed job leaves nothing
    that looks complete; an existing complete ``out_dir`` of the same model is kept.
    """
    import ctranslate2

    from mwalign.translate.hf_models import load_tokenizer, translator_source

    out_dir = Path(out_dir)
    if (out_dir / INFO_FILE).exists() and read_converted_info(out_dir)["model"] == model_id:
        log.info("%s already holds %s; nothing to do", out_dir, model_id)
        return read_converted_info(out_dir)
    source = translator_source(model_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        built = scratch / "model"
        log.info("converting %s to CTranslate2 in %s", model_id, out_dir)
        converter = ctranslate2.converters.TransformersConverter(
            source.path, trust_remote_code=source.trust_remote_code
        )
        converter.convert(str(built), quantization=None)
        load_tokenizer(source).save_pretrained(built / TOKENIZER_DIR)
        info = {
            "model": model_id,
            "source": source.provenance,
            "ctranslate2": ctranslate2.__version__,
            "quantization": None,
        }
        write_json(info, built / INFO_FILE)
        shutil.rmtree(out_dir, ignore_errors=True)  # an incomplete or other model's folder
        os.replace(built, out_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return info
