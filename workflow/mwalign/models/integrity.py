"""The record beside every materialised model folder, and checks that its weights are whole.

Each folder that rule fetch_model makes carries ``mwalign_model.json``
(:data:`INFO_FILE`): model id, kind, source, provenance text, revision, trust decision,
and the name, size and sha256 of the weights file. :func:`damaged_model_folder` compares
sizes only (cheap enough for every parse: the workflow calls :func:`check_model_folders`);
:func:`verify_model_folder` hashes the weights before a job uses the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from mwalign.files import file_sha256, read_json
from mwalign.paths import MODEL_INFO_FILE

INFO_FILE = MODEL_INFO_FILE
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def read_model_info(path: str | os.PathLike) -> dict:
    """The ``mwalign_model.json`` record of a materialised model folder."""
    return read_json(Path(path) / INFO_FILE)


def weights_file(folder: Path) -> Path:
    """The weights file of a model folder: a standard name, else the first one found."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.rglob("*.safetensors")) + sorted(folder.rglob("*.bin"))
    if not found:
        raise RuntimeError(f"{folder} has no weights file ({', '.join(WEIGHT_FILES)})")
    return found[0]


def weights_record(folder: Path) -> dict:
    """Name (relative to ``folder``), size and sha256 of the folder's weights file."""
    weights = weights_file(folder)
    return {
        "weights_file": str(weights.relative_to(folder)),
        "weights_bytes": weights.stat().st_size,
        "sha256": file_sha256(weights),
    }


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
    sha256 recorded in its ``mwalign_model.json``; a folder without one (a trained model)
    is checked against the record its job wrote (:func:`mwalign.products.verify_folder`)."""
    path = Path(path)
    if not (path / INFO_FILE).is_file():
        from mwalign.products import verify_folder

        verify_folder(path)  # a trained model: the record its train job wrote
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
