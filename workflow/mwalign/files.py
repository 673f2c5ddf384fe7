"""Atomic, schema-checked file I/O shared by every stage.

Every output is written to a temporary file in the destination folder and renamed
into place, so a killed job never leaves a half-written file that looks complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


class StageInputError(RuntimeError):
    """An input file between stages is missing, unreadable or has the wrong schema."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.is_file():
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; keep files readable
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_table(table: pa.Table, path: str | os.PathLike, schema: pa.Schema) -> None:
    """Write ``table`` as Parquet after casting it to ``schema`` (columns in schema order)."""
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        raise ValueError(f"table for {path} lacks columns {missing}; schema has {schema.names}")
    table = table.select(schema.names).cast(schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_table(path: str | os.PathLike, schema: pa.Schema | None = None) -> pa.Table:
    """Read a Parquet file written by a stage, checking it against ``schema``.

    Raises :class:`StageInputError` naming the file when it is missing, truncated or
    has columns or types other than the schema's.
    """
    path = Path(path)
    if not path.exists():
        raise StageInputError(f"{path}: file is missing; rerun the stage that writes it")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise StageInputError(
            f"{path}: not a readable Parquet file ({err}); delete it and rerun"
        ) from err
    if schema is not None:
        check_schema(table.schema, schema, path)
    return table


def check_schema(actual: pa.Schema, expected: pa.Schema, path: str | os.PathLike) -> None:
    """Raise :class:`StageInputError` unless ``actual`` has exactly ``expected``'s fields."""
    got = {f.name: f.type for f in actual}
    want = {f.name: f.type for f in expected}
    if got != want:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        wrong = sorted(n for n in set(got) & set(want) if got[n] != want[n])
        detail = "; ".join(
            part
            for part in (
                f"missing columns {missing}" if missing else "",
                f"unexpected columns {extra}" if extra else "",
                ", ".join(f"column {n!r} is {got[n]}, expected {want[n]}" for n in wrong),
            )
            if part
        )
        raise StageInputError(f"{path}: wrong schema: {detail}")


def write_json(data: Any, path: str | os.PathLike) -> None:
    """Write ``data`` as indented, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.exists():
        raise StageInputError(f"{path}: file is missing; rerun the stage that writes it")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise StageInputError(f"{path}: not valid JSON ({err}); delete it and rerun") from err


def file_sha256(path: str | os.PathLike) -> str:
    """Content hash of a file, for dataset cards and provenance."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
