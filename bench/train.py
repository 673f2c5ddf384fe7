"""Training-stage figures on the default experiment's data.

1. Multi-way vs En-X at the same batch of sentence ids: steps/s and peak memory of a
   real ``train_run`` (each in its own process, so peak RSS is its own).
2. Soft-label training with the precomputed teacher embeddings (what the pipeline does)
   vs the same loss computing the teacher on the fly each step (what the IMASCL code
   does): seconds per step on identical batches.

    python bench/train.py                       # defaults: the config's student/batch
    python bench/train.py --batch-ids 8 --max-seq-length 64 --steps 3
    python bench/train.py --part data --data multiway --precision fp32 --steps 6 \
        --fp32-kernels blas        # fp32 on a CPU: the BLAS (or onednn), not the probe's pick
    python bench/train.py --part data --data multiway --steps 3 --profile  # costliest ops

Reads results/dataset/*.parquet, results/teacher/*.parquet and the materialised
models under resources/models/ (run the pipeline up to `teacher` first). Writes a JSON
summary (default results/bench/train.json) and logs a table.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
log = logging.getLogger("bench.train")
ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    parser.add_argument("--student", default="e5-small", help="name in config.students")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument(
        "--batch-ids", type=int, default=None, help="default: config train.batch_ids"
    )
    parser.add_argument("--max-seq-length", type=int, default=None, help="default: the student's")
    parser.add_argument("--freeze-layers", type=int, default=None, help="default: config's")
    parser.add_argument(
        "--teacher-data", choices=["multiway", "enx"], default="multiway",
        help="data of the soft-label comparison",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--precision", choices=["auto", "fp32", "bf16"], default=None, help="default: config's"
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the student")
    parser.add_argument("--profile", action="store_true", help="print the costliest ops")
    parser.add_argument(
        "--padded", action="store_true", help="train on padded batches (no packed tokens)"
    )
    parser.add_argument(
        "--fp32-kernels", choices=["probe", "blas", "onednn"], default="probe",
        help="fp32 on a CPU: the linear layers' kernels (default: chosen by the job's probe)",
    )  # fmt: skip
    parser.add_argument(
        "--data", nargs="+", choices=["multiway", "enx"], default=["multiway", "enx"],
        help="datasets of the multi-way vs En-X comparison",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "train.json")
    parser.add_argument("--part", choices=["all", "data", "teacher"], default="all")
    parser.add_argument("--child", choices=["multiway", "enx", "teacher"], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def bench_params(args: argparse.Namespace, data: str, objective: str = "infonce") -> dict:
    import yaml
    from mwalign.config import apply_schema
    from mwalign.train.params import train_params

    config = yaml.safe_load(args.config.read_text())
    config["runs"] = {"bench": {"student": args.student, "data": data, "objective": objective}}
    train = config.setdefault("train", {})
    train.update(steps=args.steps, checkpoint_every=0)
    if args.batch_ids:
        train["batch_ids"] = args.batch_ids
    if args.freeze_layers is not None:
        train["freeze_layers"] = args.freeze_layers
    if args.max_seq_length:
        config["students"][args.student]["max_seq_length"] = args.max_seq_length
    if args.precision:
        train["precision"] = args.precision
    return train_params(apply_schema(config), "bench")


def paths(params: dict) -> dict[str, Path]:
    from mwalign.models.ids import model_slug

    found = {
        "dataset": ROOT / "results" / "dataset" / f"{params['data']}.parquet",
        "student": ROOT / "resources" / "models" / model_slug(params["student"]["model"]),
    }
    if params["teacher"]:
        slug = model_slug(params["teacher"]["model"])
        found["teacher"] = ROOT / "results" / "teacher" / f"{slug}.parquet"
        found["teacher_model"] = ROOT / "resources" / "models" / slug
    return found


@contextlib.contextmanager
def compiled(enabled: bool):
    """With ``enabled``, the Trainer compiles the model (``torch_compile=True``)."""
    if not enabled:
        yield
        return
    from mwalign.train import trainer

    original = trainer.TrainingArguments
    trainer.TrainingArguments = functools.partial(original, torch_compile=True)
    try:
        yield
    finally:
        trainer.TrainingArguments = original


@contextlib.contextmanager
def fp32_kernels(kernels: str):
    """With ``blas`` or ``onednn``, fp32 training on a CPU runs on those kernels instead of
    the ones the job's probe picks."""
    if kernels == "probe":
        yield
        return
    from mwalign.cpu_kernels import linear_layers, use_kernels
    from mwalign.train import trainer

    original = trainer.training_kernels

    def forced(model, params, precision):
        if precision.name != "fp32" or trainer.training_device() != "cpu":
            return {}
        use_kernels(linear_layers(model), kernels)
        return {"fp32_kernels": kernels}

    trainer.training_kernels = forced
    try:
        yield
    finally:
        trainer.training_kernels = original


@contextlib.contextmanager
def padded(enabled: bool):
    """With ``enabled``, training runs on padded batches, as before packed training
    (:mod:`mwalign.train.packing`)."""
    if not enabled:
        yield
        return
    from mwalign.train import trainer

    original = trainer.packed_training

    @contextlib.contextmanager
    def unpacked(model, **kwargs):
        yield {"packed": False, "packed_reason": "bench/train.py --padded"}

    trainer.packed_training = unpacked
    try:
        yield
    finally:
        trainer.packed_training = original


@contextlib.contextmanager
def profiled(enabled: bool, rows: int = 15):
    """With ``enabled``, prints the ops that took the most CPU time (torch.profiler, self
    time, the whole job: loading, the kernel probe and every step)."""
    if not enabled:
        yield
        return
    from torch.profiler import profile

    with profile() as prof:
        yield
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_train(args: argparse.Namespace, data: str) -> dict:
    """One real train_run; steps/s from the Trainer, peak RSS of this process."""
    from mwalign.train.job import TrainJob
    from mwalign.train.trainer import train_run

    params = bench_params(args, data)
    where = paths(params)
    cpu = time.process_time()
    with (
        tempfile.TemporaryDirectory() as tmp,
        compiled(args.compile),
        fp32_kernels(args.fp32_kernels),
        padded(args.padded),
        profiled(args.profile),
    ):
        record = train_run(
            TrainJob(
                params=params,
                dataset_path=where["dataset"],
                student_path=where["student"],
                out_dir=Path(tmp) / "model",
            )
        )
        curve = (Path(tmp) / "model" / "loss_curve.csv").read_text().splitlines()
        losses = [float(row["loss"]) for row in csv.DictReader(curve)]
    result = record["result"]
    return {
        "precision": result["precision"],
        "fp32_kernels": result.get("fp32_kernels"),
        "packed": result["packed"],
        # share of the padded batches' tokens that were padding, skipped when packed
        "padding_skipped": (
            f"{100 * (1 - result['packed_tokens'] / result['padded_tokens']):.1f}%"
            if result.get("padded_tokens")
            else "none"
        ),
        "compile": args.compile,
        "threads": args.threads,
        "losses": losses,
        "cpu_seconds_total": time.process_time() - cpu,
        "data": data,
        "views": result["views"],
        "rows_per_step": result["rows_per_step"],
        "steps": result["steps"],
        "seconds_per_step": result["train_runtime"] / result["steps"],
        "steps_per_second": result["train_steps_per_second"],
        "peak_rss_mb": peak_rss_mb(),
    }


def child_teacher(args: argparse.Namespace) -> dict:
    """Seconds per soft-label step: precomputed teacher labels vs teacher run per batch."""
    import torch
    from mwalign.models.load import load_sentence_transformer
    from mwalign.train.data import build_dataset
    from mwalign.train.losses import build_loss
    from mwalign.train.trainer import freeze_parameters
    from sentence_transformers import SentenceTransformer

    params = bench_params(args, args.teacher_data, "soft")
    where = paths(params)
    dataset, _ = build_dataset(params, where["dataset"], where["teacher"])
    student = load_sentence_transformer(
        where["student"], max_seq_length=params["student"]["max_seq_length"]
    )
    freeze_parameters(
        student, params["train"]["freeze_embeddings"], params["train"]["freeze_layers"]
    )
    teacher: SentenceTransformer = load_sentence_transformer(where["teacher_model"])
    loss = build_loss(params, student, teacher_dim=None)
    optimizer = torch.optim.AdamW([p for p in loss.parameters() if p.requires_grad], lr=1e-5)
    views = [c for c in dataset.column_names if c != "label"]
    size, prefix = params["train"]["batch_ids"], params["student"]["prefix"]
    timings: dict[str, list[float]] = {"precomputed": [], "on_the_fly": []}
    label_times: dict[str, list[float]] = {"precomputed": [], "on_the_fly": []}
    for step in range(args.steps + 1):  # step 0 warms up both paths
        rows = dataset.select(range(step * size, (step + 1) * size))
        features = [student.preprocess(rows[v], prompt=prefix or None) for v in views]
        modes = list(timings) if step % 2 else list(timings)[::-1]  # alternate the order
        for mode in modes:
            start = time.perf_counter()
            if mode == "precomputed":
                labels = torch.tensor(rows["label"])  # (B, 1, d_t)
            else:
                with torch.no_grad():
                    labels = teacher.encode(rows["en"], convert_to_tensor=True, batch_size=size)
                labels = labels[:, None]  # (B, 1, d_t)
            labelled = time.perf_counter()
            optimizer.zero_grad()
            loss(features, labels).backward()
            optimizer.step()
            if step:
                timings[mode].append(time.perf_counter() - start)
                label_times[mode].append(labelled - start)
    pre, fly = (statistics.median(timings[m]) for m in ("precomputed", "on_the_fly"))
    return {
        "data": args.teacher_data,
        "rows_per_step": size,
        "seconds_per_step_precomputed": pre,
        "seconds_per_step_on_the_fly": fly,
        "label_seconds_precomputed": statistics.median(label_times["precomputed"]),
        "label_seconds_on_the_fly": statistics.median(label_times["on_the_fly"]),
        "speedup": fly / pre,
        "steps": args.steps,
    }


def run_child(kind: str, argv: list[str]) -> dict:
    command = [sys.executable, __file__, *argv, "--child", kind]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench child {kind} failed:\n{done.stderr[-4000:]}")
    *printed, result = done.stdout.strip().splitlines()
    if printed:  # what the child printed before its result (e.g. --profile's table)
        print("\n".join(printed))
    return json.loads(result)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        result = child_teacher(args) if args.child == "teacher" else child_train(args, args.child)
        print(json.dumps(result))
        return
    summary = {"settings": vars(args) | {"config": str(args.config), "out": str(args.out)}}
    summary["load_average_before"] = os.getloadavg()
    if args.part in ("all", "data"):
        summary["data"] = [run_child(data, argv) for data in args.data]
        for row in summary["data"]:
            log.info(
                "%(data)-8s %(rows_per_step)3d ids x %(views)d views: "
                "%(seconds_per_step).2f s/step, %(steps_per_second).3f steps/s, "
                "peak RSS %(peak_rss_mb).0f MB; %(precision)s (kernels %(fp32_kernels)s), "
                "packed %(packed)s (padding skipped: %(padding_skipped)s), "
                "compile %(compile)s, "
                "%(threads)d threads, %(cpu_seconds_total).1f CPU s; losses %(losses)s",
                row,
            )
    if args.part in ("all", "teacher"):
        summary["teacher"] = run_child("teacher", argv)
        log.info(
            "soft labels (%(data)s, %(rows_per_step)d ids): precomputed "
            "%(seconds_per_step_precomputed).2f s/step (labels %(label_seconds_precomputed).4f s), "
            "on the fly %(seconds_per_step_on_the_fly).2f s/step (labels "
            "%(label_seconds_on_the_fly).3f s): precomputed is %(speedup).2fx faster",
            summary["teacher"],
        )
    summary["load_average_after"] = os.getloadavg()
    from mwalign.files import write_json

    write_json(json.loads(json.dumps(summary, default=str)), args.out)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
