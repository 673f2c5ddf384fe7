"""Finished batches of a shard, persisted as they complete so a killed job resumes.

A work folder holds one small Parquet file per finished batch (``id``, ``text``) and a
fingerprint of what the shard is translating (config slice, language, seed, source
rows). Batches written under another fingerprint are discarded, never mixed in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import pyarrow as pa

from mwalign.files import read_table, write_json, write_table

log = logging.getLogger(__name__)

BATCH = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("text", pa.string(), nullable=False)]
)


def fingerprint(params: dict, lang: str, seed: int, ids: list[int], sources: list[str]) -> str:
    """A hash of everything the translations of a shard depend on."""
    digest = hashlib.sha256()
    digest.update(json.dumps([params, lang, seed], sort_keys=True, default=str).encode())
    for row_id, source in zip(ids, sources, strict=True):
        digest.update(f"{row_id}\t{source}\n".encode())
    return digest.hexdigest()


class BatchStore:
    """Finished translations of one shard under ``work_dir``."""

    def __init__(self, work_dir: str | Path, key: str) -> None:
        self.work_dir = Path(work_dir)
        self.key = key
        self.next_index = 0

    def load(self) -> tuple[dict[int, str], int]:
        """Translations finished by earlier attempts (id -> text) and how many batches held them."""
        stamp = self.work_dir / "fingerprint.json"
        if stamp.exists() and json.loads(stamp.read_text()).get("key") != self.key:
            log.warning(
                "%s holds batches of other settings or sources; discarding them", self.work_dir
            )
            self.clear()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        write_json({"key": self.key}, stamp)
        done: dict[int, str] = {}
        files = sorted(self.work_dir.glob("batch-*.parquet"))
        for path in files:
            table = read_table(path, BATCH)
            ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
            done.update(zip(ids, texts, strict=True))
        if files:
            self.next_index = int(files[-1].stem.split("-")[1]) + 1
        return done, len(files)

    def save(self, ids: list[int], texts: list[str]) -> None:
        """Persist one finished batch (atomically)."""
        table = pa.table({"id": ids, "text": texts}, schema=BATCH)
        write_table(table, self.work_dir / f"batch-{self.next_index:06d}.parquet", BATCH)
        self.next_index += 1

    def clear(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)
