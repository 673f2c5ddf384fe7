"""CPU training options for the raw Gemma-3-270M student: steps/s, peak memory, loss curve.

Every variant trains the same run (``experiments/raw-student.yaml``'s multi-way run by
default) for a few steps with a real ``train_run``, each in its own process (so peak RSS
is its own), and is compared with the first variant's loss curve:

- ``fp32``: the reference (fp32, no gradient checkpointing, freeze_layers as configured,
  the student's max_seq_length, --threads threads);
- ``checkpointing``: gradient checkpointing on (same arithmetic, less memory, more time);
- ``bf16``: bf16 autocast (fast only on CPUs with AVX512-BF16 or AMX; not the same
  arithmetic, so its loss curve differs a little);
- ``seq64``: max_seq_length 64 instead of 128 (identical when no input is longer: the
  Trainer pads each batch to its longest input; the script counts the inputs it would cut);
- ``threads1``: one thread instead of --threads.

    python bench/raw_student.py --workdir . --steps 4

``--workdir`` holds ``results/dataset/*.parquet`` and ``resources/models/`` (run the
overlay up to ``assemble`` and ``fetch_model`` first). Prints one JSON line per variant
and a summary table; records the CPU model, its bf16 flags and the load average.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe

os.environ.setdefault("HF_HUB_OFFLINE", "1")
log = logging.getLogger("bench.raw_student")
ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "fp32": {},
    "checkpointing": {"train": {"gradient_checkpointing": True}},
    "bf16": {"train": {"precision": "bf16"}},
    "seq64": {"student": {"max_seq_length": 64}},
    "threads1": {"threads": 1},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=ROOT)
    parser.add_argument(
        "--configs", type=Path, nargs="+",
        default=[ROOT / "config.yaml", ROOT / "experiments" / "raw-student.yaml"],
    )  # fmt: skip
    parser.add_argument("--run", default="gemma-multiway-seed0", help="a train job of the configs")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-ids", type=int, default=None, help="default: the run's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--quick", action="store_true",
        help="one process, one batch: CPU seconds of a forward + backward pass per variant, "
        "and the loss and gradient differences to fp32 (for a busy machine)",
    )  # fmt: skip
    parser.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def merged_config(paths: list[Path]) -> dict:
    """The configs merged key by key, as Snakemake merges several --configfile files."""
    import yaml
    from mwalign.config import validate_config

    def merge(base: dict, extra: dict) -> dict:
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base

    config: dict = {}
    for path in paths:
        merge(config, yaml.safe_load(path.read_text()) or {})
    return validate_config(config)


def variant_params(args: argparse.Namespace, variant: str) -> dict:
    from mwalign.train.params import train_params

    params = train_params(merged_config(args.configs), args.run)
    params["train"].update(steps=args.steps, checkpoint_every=0)
    if args.batch_ids:
        params["train"]["batch_ids"] = args.batch_ids
    for part in ("train", "student"):
        params[part].update(VARIANTS[variant].get(part, {}))
    return params


def truncated_inputs(params: dict, dataset: Path, student: Path) -> int:
    """How many of the first steps' inputs are longer than max_seq_length tokens."""
    from mwalign.train.data import build_dataset
    from transformers import AutoTokenizer

    rows, _ = build_dataset(params, dataset, None)
    tokenizer = AutoTokenizer.from_pretrained(student)
    count = params["train"]["batch_ids"] * params["train"]["steps"]
    texts = [t for column in rows.column_names for t in rows[column][:count]]
    limit = params["student"]["max_seq_length"]
    return sum(len(ids) > limit for ids in tokenizer(texts)["input_ids"])


def child(args: argparse.Namespace, variant: str) -> dict:
    import torch
    from mwalign.models.ids import model_slug
    from mwalign.students import load_student
    from mwalign.train.job import TrainJob
    from mwalign.train.trainer import train_run

    torch.set_num_threads(VARIANTS[variant].get("threads", args.threads))
    params = variant_params(args, variant)
    dataset = args.workdir / "results" / "dataset" / f"{params['data']}.parquet"
    student = args.workdir / "resources" / "models" / model_slug(params["student"]["model"])
    # CPU seconds, not only wall seconds: on a shared machine they still compare variants
    cpu_start = time.process_time()
    load_student(student, **{k: params["student"][k] for k in ("pooling", "attention")})
    cpu_load = time.process_time() - cpu_start
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu_start = time.perf_counter(), time.process_time()
        record = train_run(TrainJob(params, dataset, student, Path(tmp) / "model"))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        with open(Path(tmp) / "model" / "loss_curve.csv") as handle:
            losses = [float(row["loss"]) for row in csv.DictReader(handle)]
    result = record["result"]
    return {
        "variant": variant,
        "threads": torch.get_num_threads(),
        "steps": result["steps"],
        "seconds_per_step": result["train_runtime"] / result["steps"],
        "wall_seconds_with_loading": wall,
        "cpu_seconds_per_step": (cpu - cpu_load) / result["steps"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "losses": losses,
        "inputs_over_max_seq_length": truncated_inputs(params, dataset, student),
    }


def quick(args: argparse.Namespace) -> list[dict]:
    """Per variant: CPU seconds of one forward + backward pass on the same batch (median of
    ``--steps`` repeats after one warm-up), the loss and the largest gradient difference to
    the first variant. The weights are not updated, so every variant sees the same model."""
    import statistics

    import torch
    from mwalign.models.ids import model_slug
    from mwalign.students import load_student
    from mwalign.train.data import build_dataset
    from mwalign.train.losses import build_loss
    from mwalign.train.trainer import freeze_parameters

    torch.set_num_threads(args.threads)
    params = variant_params(args, "fp32")
    dataset = args.workdir / "results" / "dataset" / f"{params['data']}.parquet"
    student = args.workdir / "resources" / "models" / model_slug(params["student"]["model"])
    rows, _ = build_dataset(params, dataset, None)
    batch = rows.select(range(params["train"]["batch_ids"]))
    settings = {k: params["student"][k] for k in ("pooling", "attention", "max_seq_length")}
    model = load_student(student, **settings)
    freeze_parameters(model, params["train"]["freeze_embeddings"], params["train"]["freeze_layers"])
    loss_fn = build_loss(params, model, None)
    features = [model.preprocess(batch[column]) for column in batch.column_names]
    trained = [p for p in model.parameters() if p.requires_grad]
    results, reference = [], None
    for variant in [v for v in args.variants if v in ("fp32", "checkpointing", "bf16")]:
        backbone = model.transformers_model
        if variant == "checkpointing":
            backbone.gradient_checkpointing_enable({"use_reentrant": False})
        else:
            backbone.gradient_checkpointing_disable()
        seconds = []
        for repeat in range(args.steps + 1):
            model.zero_grad(set_to_none=True)
            start = time.process_time()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant == "bf16"):
                loss = loss_fn(features, None)
            loss.backward()
            if repeat:
                seconds.append(time.process_time() - start)
        grads = torch.cat([p.grad.flatten() for p in trained])
        reference = (loss.item(), grads) if reference is None else reference
        row = {
            "variant": variant,
            "cpu_seconds_per_pass": statistics.median(seconds),
            "loss": loss.item(),
            "loss_difference": abs(loss.item() - reference[0]),
            "max_gradient_difference": (grads - reference[1]).abs().max().item(),
            "max_gradient": reference[1].abs().max().item(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.child:
        print(json.dumps(child(args, args.child)))
        return
    print(json.dumps(describe()))
    if args.quick:
        quick(args)
        return
    rows = []
    for variant in args.variants:
        load = os.getloadavg()[0]
        command = [sys.executable, __file__, *argv, "--child", variant]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"variant {variant} failed:\n{done.stderr[-4000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1]) | {"load_before": load}
        rows.append(row)
        print(json.dumps(row), flush=True)
    reference = rows[0]["losses"]
    for row in rows:
        diff = max(abs(a - b) for a, b in zip(row["losses"], reference, strict=True))
        log.info(
            "%-13s %5.1f s/step, %5.1f CPU s/step, peak RSS %5.0f MB, "
            "max |loss - %s loss| %.2e (load %.1f)",
            row["variant"], row["seconds_per_step"], row["cpu_seconds_per_step"],
            row["peak_rss_mb"], rows[0]["variant"], diff, row["load_before"],
        )  # fmt: skip


if __name__ == "__main__":
    main()
