"""Records of what each job wrote, and the parse-time check that finds a damaged product.

Every job records each output it wrote under ``results/`` in
``.snakemake/mwalign-records/{output}.json`` (:func:`write_records`, called as the job
script ends, see workflow/scripts/mwalign_job.py): size, modification time and sha256 of
a file (and the rows of a Parquet file), the same for every file of a folder, and a hash
of the job's params (the config slice it was made from). At every parse, the workflow
checks each product of the experiment against its record (:func:`find_damaged`): a file
whose size or rows differ, or whose content changed since its job wrote it, and a folder
missing a recorded file, is damaged, and the workflow reruns the job that makes it (and
what depends on it), before any job reads it. Sizes and rows cost a ``stat`` and a
Parquet footer; a file is hashed only when its modification time changed. A product
without a record (made before records existed) is checked for its form only: a Parquet
file's footer, a JSON file's syntax.

Jobs that load a trained model hash its weights against the record first
(:func:`verify_folder`, from :func:`mwalign.models.integrity.verify_model_folder`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mwalign.files import atomic_path, file_sha256
from mwalign.paths import PRODUCT_RECORDS_DIR

# Only outputs under this folder are products (resources/models/ has its own record).
PRODUCTS_ROOT = "results"
# Files that Snakemake, not the job, puts into a folder output.
IGNORED_NAMES = (".snakemake_timestamp",)
# The files of a folder whose sha256 is recorded (and checked by a job that loads them).
HASHED_SUFFIXES = (".safetensors", ".bin", ".parquet", ".json", ".csv", ".md", ".txt")
PARQUET_MAGIC = b"PAR1"


def record_path(product: str | os.PathLike, root: str | os.PathLike = ".") -> Path:
    """Where the record of ``product`` (a path relative to the working folder) lies."""
    return Path(root) / PRODUCT_RECORDS_DIR / f"{Path(product).as_posix()}.json"


def params_hash(params: Any) -> str:
    """sha256 of a job's params as canonical JSON: the config slice its outputs came from."""
    text = json.dumps(params, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def parquet_rows(path: Path) -> int | None:
    """Rows of a Parquet file from its footer; None when the footer cannot be read."""
    import pyarrow.parquet as pq

    try:
        return pq.read_metadata(path).num_rows
    except Exception:  # noqa: BLE001 - any unreadable footer means the same to the caller
        return None


def _file_record(path: Path, *, with_hash: bool = True) -> dict[str, Any]:
    stat = path.stat()
    record: dict[str, Any] = {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if with_hash:
        record["sha256"] = file_sha256(path)
    if path.suffix == ".parquet":
        record["rows"] = parquet_rows(path)
    return record


def make_record(path: str | os.PathLike, params: Any = None) -> dict[str, Any]:
    """The record of the file or folder ``path`` as it is now."""
    path = Path(path)
    record: dict[str, Any] = {"made_from": params_hash(params) if params is not None else None}
    if path.is_dir():
        files = {}
        for item in sorted(path.rglob("*")):
            if item.is_file() and item.name not in IGNORED_NAMES:
                hashed = item.suffix in HASHED_SUFFIXES
                files[item.relative_to(path).as_posix()] = _file_record(item, with_hash=hashed)
        record.update(kind="folder", files=files)
    else:
        record.update(kind="file", **_file_record(path))
    return record


def write_records(
    outputs: list[str], params: Any = None, root: str | os.PathLike = "."
) -> list[Path]:
    """Record every output under ``results/`` that exists (a job calls this as it ends)."""
    written = []
    for output in outputs:
        relative = Path(os.path.relpath(Path(root, output), root))
        if relative.parts[:1] != (PRODUCTS_ROOT,) or not Path(root, relative).exists():
            continue
        target = record_path(relative, root)
        record = make_record(Path(root, relative), params)
        with atomic_path(target) as tmp:
            tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        written.append(target)
    return written


def read_record(product: str | os.PathLike, root: str | os.PathLike = ".") -> dict | None:
    """The record of ``product``; None when there is none or it cannot be read."""
    path = record_path(product, root)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _form_problem(path: Path) -> str | None:
    """What is wrong with the form of a file that has no record (cheap checks only)."""
    if path.suffix == ".parquet":
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(4)
            handle.seek(max(0, size - 4))
            tail = handle.read(4)
        if size < 12 or head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
            return "it is not a whole Parquet file (truncated?)"
        if parquet_rows(path) is None:
            return "its Parquet footer cannot be read"
    elif path.suffix == ".json" and path.stat().st_size < 50_000_000:
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            return f"it is not valid JSON ({err})"
    return None


def _file_problem(path: Path, record: dict[str, Any], name: str) -> str | None:
    """Why the file ``path`` differs from ``record`` (None: it is what its job wrote)."""
    if not path.is_file():
        return f"{name} is missing"
    stat = path.stat()
    if path.suffix == ".parquet" and stat.st_size != record.get("bytes"):
        rows = parquet_rows(path)  # a whole file with other rows: made from another config?
        if rows is not None and record.get("rows") is not None and rows != record["rows"]:
            return f"{name} holds {rows} rows, not the {record['rows']} its job wrote"
    if stat.st_size != record.get("bytes"):
        return f"{name} has {stat.st_size} bytes, not the {record.get('bytes')} its job wrote"
    if path.suffix == ".parquet" and parquet_rows(path) is None:
        return f"{name}: its Parquet footer cannot be read"
    changed = stat.st_mtime_ns != record.get("mtime_ns") and "sha256" in record
    if changed and file_sha256(path) != record["sha256"]:
        return f"{name} was changed since its job wrote it (its sha256 differs)"
    return None


def damage(product: str | os.PathLike, root: str | os.PathLike = ".") -> str | None:
    """Why the existing ``product`` cannot be used, from its record (sizes, rows, and a
    hash only when the modification time changed) or, without one, its form; None if sound
    or missing (a missing product is simply made)."""
    path = Path(root, product)
    if not path.exists():
        return None
    record = read_record(product, root)
    if record is None:
        if path.is_dir():
            return None if any(path.iterdir()) else "the folder is empty"
        return _form_problem(path)
    if record.get("kind") == "folder":
        if not path.is_dir():
            return "it is a file, not the folder its job wrote"
        for name, entry in record.get("files", {}).items():
            problem = _file_problem(path / name, entry, name)
            if problem:
                return problem
        return None
    if path.is_dir():
        return "it is a folder, not the file its job wrote"
    return _file_problem(path, record, path.name)


def find_damaged(products: list[str], root: str | os.PathLike = ".") -> dict[str, str]:
    """Product path -> why it is damaged, for every damaged one of ``products``."""
    damaged = {}
    for product in products:
        problem = damage(product, root)
        if problem:
            damaged[product] = problem
    return damaged


def incomplete_outputs(root: str | os.PathLike = ".") -> list[str]:
    """Outputs Snakemake marked incomplete (``.snakemake/incomplete/``, one file per output,
    named by its urlsafe base64): what an interrupted run left, to be made again."""
    import base64

    folder = Path(root, ".snakemake", "incomplete")
    found = []
    for marker in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if marker.is_file() and not marker.name.startswith("@"):
            try:
                found.append(base64.urlsafe_b64decode(marker.name).decode())
            except ValueError:
                continue
    return found


def verify_folder(path: str | os.PathLike, root: str | os.PathLike = ".") -> None:
    """Raise RuntimeError unless every file of the product folder ``path`` recorded with a
    sha256 still has it (a job calls this before it loads a trained model)."""
    path = Path(path)
    try:
        product = Path(os.path.relpath(path.resolve(), Path(root).resolve()))
    except ValueError:
        return
    record = read_record(product, root)
    if record is None or record.get("kind") != "folder":
        return
    for name, entry in record.get("files", {}).items():
        problem = _file_problem(path / name, entry, name)
        if problem is None and "sha256" in entry and file_sha256(path / name) != entry["sha256"]:
            problem = f"{name} was changed since its job wrote it (its sha256 differs)"
        if problem:
            raise RuntimeError(
                f"{product.as_posix()} is damaged: {problem}; delete it "
                f"(rm -r {product.as_posix()}) and rerun the same snakemake command: the "
                "workflow rebuilds it, then what depends on it"
            )
