"""Benchmark of the evaluate stage: time per task, and what the embedding cache saves.

Runs every task on one model twice: with the shared embedding cache (tasks in order,
as jobs of one model share it) and without it (each task embeds its own sentences).
Reports wall and CPU seconds per task, encode calls, sentences encoded, encode seconds
and sentences/s, then projects the evaluation time of an experiment with --models
models. Example (the default experiment's evaluation, one model):

    python bench/evaluate.py --model resources/models/intfloat--multilingual-e5-small \\
        --tasks BibleBitextMining BibleClassification --size 2000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import torch
from mwalign.config import apply_schema
from mwalign.evaluate.params import evaluate_params
from mwalign.evaluate.run import evaluate_model

DEFAULT_MODEL = Path("resources/models/intfloat--multilingual-e5-small")
log = logging.getLogger("bench.evaluate")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--prefix", default="query: ")
    parser.add_argument("--tasks", nargs="+", default=["BibleBitextMining", "BibleClassification"])
    parser.add_argument("--languages", nargs="+", default=["ar", "de", "es", "hi", "ru", "zh"])
    parser.add_argument(
        "--unseen", nargs="+", default=["fr", "pt", "it", "ja", "ko", "tr", "vi", "id", "pl", "sw"]
    )
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="fp32")
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", type=int, default=3, help="models in the projected experiment")
    parser.add_argument("--skip-uncached", action="store_true", help="only the cached pass")
    parser.add_argument("--out", type=Path, default=Path("bench/results/evaluate.json"))
    return parser.parse_args()


def experiment_config(args: argparse.Namespace) -> dict:
    return {
        "seed": 13,
        "languages": args.languages,
        "students": {
            "student": {
                "model": str(args.model),
                "prefix": args.prefix,
                "max_seq_length": args.max_seq_length,
            }
        },
        "runs": {},
        "evaluate": {
            "tasks": args.tasks,
            "unseen_languages": args.unseen,
            "precision": args.precision,
            "bible": {"size": args.size},
        },
    }


def timed_pass(args: argparse.Namespace, workdir: Path, use_cache: bool) -> list[dict]:
    """Every task once; with the cache, all tasks share one cache folder (fresh)."""
    config = apply_schema(experiment_config(args))  # the schema only: no runs to check
    rows = []
    for task in args.tasks:
        params = evaluate_params(config, "base-student", task)
        cache = workdir / ("cache" if use_cache else f"nocache-{task}")
        wall, cpu = time.perf_counter(), time.process_time()
        summary = evaluate_model(
            model_path=args.model,
            task=task,
            params=params,
            out_path=workdir / f"{task}.json",
            cache_dir=cache,
            batch_size=args.batch_size,
            use_embedding_cache=use_cache,
        )
        summary.pop("main_score")
        summary.update(
            cache=use_cache,
            wall_seconds=round(time.perf_counter() - wall, 1),
            cpu_seconds=round(time.process_time() - cpu, 1),
            sentences_per_second=round(
                summary["sentences_encoded"] / max(summary["encode_seconds"], 1e-9), 1
            ),
        )
        rows.append(summary)
        log.info("%s", summary)
    return rows


def report(rows: list[dict], args: argparse.Namespace) -> str:
    header = (
        "| task | cache | wall s | CPU s | encode calls | sentences asked | encoded | "
        "encode s | sentences/s |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for r in rows:
        lines.append(
            f"| {r['task']} | {'yes' if r['cache'] else 'no'} | {r['wall_seconds']} | "
            f"{r['cpu_seconds']} | {r['encode_calls']} | {r['sentences_requested']} | "
            f"{r['sentences_encoded']} | {r['encode_seconds']:.1f} | {r['sentences_per_second']} |"
        )
    for cached in (True, False):
        part = [r for r in rows if r["cache"] is cached]
        if part:
            wall = sum(r["wall_seconds"] for r in part)
            lines.append(
                f"\n{'with' if cached else 'without'} cache: {wall:.0f} s wall for one "
                f"model, x{args.models} models = {wall * args.models / 60:.1f} min"
            )
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args()
    if not (args.model / "modules.json").exists():
        raise SystemExit(f"{args.model} is not a sentence-transformers folder; pass --model")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
        rows = timed_pass(args, Path(tmp), use_cache=True)
        if not args.skip_uncached:
            rows += timed_pass(args, Path(tmp), use_cache=False)
    text = report(rows, args)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    args.out.write_text(json.dumps({"settings": settings, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
