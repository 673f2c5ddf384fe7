"""Training-stage figures on the default experiment's data.

1. Multi-way vs En-X at the same batch of sentence ids: steps/s and peak memory of a
   real ``train_run`` (each in its own process, so peak RSS is its own).
2. Soft-label training with the precomputed teacher embeddings (what the pipeline does)
   vs the same loss computing the teacher on the fly each step (what the IMASCL code
   does): seconds per step on identical batches.
3. ``--part drift``: infonce steps with the drift regulariser (``--drift-weight``, frozen
   embeddings from the frozen stage's code) and without, alternating on the same batches
   in one process: the step-time ratio. ``--synthetic`` builds a random-weight student of
   multilingual-e5-small's shape and synthetic multi-way text (bench/synthetic.py) where
   the materialised model and dataset are absent.

    python bench/train.py                       # defaults: the config's student/batch
    python bench/train.py --batch-ids 8 --max-seq-length 64 --steps 3
    python bench/train.py --part data --data multiway --precision fp32 --steps 6 \
        --fp32-kernels blas        # fp32 on a CPU: the BLAS (or onednn), not the probe's pick
    python bench/train.py --part data --data multiway --steps 3 --profile  # costliest ops
    python bench/train.py --part drift --synthetic --steps 6 --batch-ids 16

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
    parser.add_argument("--drift-weight", type=float, default=0.1, help="--part drift's weight")
    parser.add_argument(
        "--synthetic", action="store_true",
        help="--part drift: a random-weight student of e5-small's shape, synthetic text",
    )  # fmt: skip
    parser.add_argument("--part", choices=["all", "data", "teacher", "drift"], default="all")
    parser.add_argument(
        "--child", choices=["multiway", "enx", "teacher", "drift"], help=argparse.SUPPRESS
    )
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


# multilingual-e5-small's encoder (an XLM-R of 12 layers, 384 wide) for --synthetic.
E5_SMALL_DIMS = {
    "vocab_size": 250_037, "hidden_size": 384, "num_hidden_layers": 12,
    "num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 514,
    "type_vocab_size": 1,
}  # fmt: skip


def drift_inputs(args: argparse.Namespace, params: dict, rows: int) -> dict[str, Path]:
    """The student and multi-way dataset of --part drift: the materialised ones, or with
    --synthetic a random-weight e5-small-shaped student and ``rows`` synthetic rows."""
    if not args.synthetic:
        return paths(params)
    sys.path.insert(0, str(ROOT / "bench"))
    from synthetic import TEXT_WORDS, Lengths, build_student, write_multiway

    folder = ROOT / "results" / "bench" / "synthetic"
    student = build_student(
        folder / "e5-small-shape", E5_SMALL_DIMS, params["student"]["max_seq_length"]
    )
    dataset = folder / f"multiway-{rows}.parquet"
    if not dataset.exists():
        write_multiway(dataset, params["languages"], rows, Lengths(), TEXT_WORDS)
    return {"student": student, "dataset": dataset}


def drift_term_seconds(loss, dataset, size: int, views: int, dim: int, steps: int) -> float:
    """Median seconds of what the drift term adds to a step, on the run's own labels: the
    labels stacked into a tensor, split, the penalty and its backward to the embeddings."""
    import torch
    from mwalign.train.losses.drift import drift_penalty

    timings = []
    for step in range(steps + 1):
        rows = dataset.select(range(step * size, (step + 1) * size))
        embeddings = [torch.randn(size, dim, requires_grad=True) for _ in range(views)]
        start = time.perf_counter()
        frozen, _ = loss.split_labels(torch.stack(list(rows["label"])))
        (loss.weight * drift_penalty(embeddings, frozen)).backward()
        if step:
            timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def child_drift(args: argparse.Namespace) -> dict:
    """Seconds per infonce step with and without the drift term, on the same batches."""
    import torch
    from mwalign.frozen import embed_frozen, frozen_params
    from mwalign.students import load_student
    from mwalign.train.data import build_dataset
    from mwalign.train.drift import with_frozen_labels
    from mwalign.train.losses import DriftRegularised, build_loss
    from mwalign.train.trainer import freeze_parameters

    params = bench_params(args, "multiway")
    params["train"]["drift_weight"] = args.drift_weight
    size, student = params["train"]["batch_ids"], params["student"]
    where = drift_inputs(args, params, rows=(args.steps + 1) * size)
    with tempfile.TemporaryDirectory() as tmp:
        frozen = Path(tmp) / "frozen.parquet"
        config = {"students": {student["name"]: student}, "languages": params["languages"]}
        embed_frozen(
            student_path=where["student"], dataset_path=where["dataset"], out_path=frozen,
            info_path=Path(tmp) / "frozen.json",
            settings=frozen_params(config, student["name"], "multiway"),
        )  # fmt: skip
        dataset, ids = build_dataset(params, where["dataset"])
        views = len(dataset.column_names)
        dataset, dim, _ = with_frozen_labels(
            dataset, ids, params, where["dataset"], frozen, split="train"
        )
    model = load_student(
        where["student"], pooling=student["pooling"], attention=student["attention"],
        max_seq_length=student["max_seq_length"],
    )  # fmt: skip
    freeze_parameters(model, params["train"]["freeze_embeddings"], params["train"]["freeze_layers"])
    losses = {
        "without": build_loss(params, model, None),
        "with": DriftRegularised(build_loss(params, model, None), args.drift_weight, views, dim),
    }
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    timings: dict[str, list[float]] = {"without": [], "with": []}
    drift_values = []
    for step in range(args.steps + 1):  # step 0 warms up both paths
        rows = dataset.select(range(step * size, (step + 1) * size))
        features = [
            model.preprocess(rows[v], prompt=student["prefix"] or None)
            for v in rows.column_names[:views]
        ]
        modes = list(timings) if step % 2 else list(timings)[::-1]  # alternate the order
        for mode in modes:
            start = time.perf_counter()
            labels = torch.stack(list(rows["label"])) if mode == "with" else None
            optimizer.zero_grad()
            value = losses[mode](features, labels)
            if isinstance(value, dict):
                drift_values.append(value["drift"].item())
                value = value["objective"] + value["drift"]
            value.backward()
            optimizer.step()
            if step:
                timings[mode].append(time.perf_counter() - start)
    without, with_drift = (statistics.median(timings[m]) for m in ("without", "with"))
    extra = drift_term_seconds(losses["with"], dataset, size, views, dim, args.steps)
    return {
        "student": str(where["student"]),
        "synthetic": args.synthetic,
        "rows_per_step": size,
        "views": views,
        "drift_weight": args.drift_weight,
        "seconds_per_step_without": without,
        "seconds_per_step_with": with_drift,
        "ratio": with_drift / without,
        # the drift term's own work alone (labels to a tensor, split, penalty, its
        # backward): the ratio a step would have without the machine's noise
        "drift_term_seconds": extra,
        "ratio_from_term": (without + extra) / without,
        "drift_terms": drift_values,
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
        children = {"teacher": child_teacher, "drift": child_drift}
        child = children.get(args.child, functools.partial(child_train, data=args.child))
        result = child(args)
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
    if args.part == "drift":
        summary["drift"] = run_child("drift", argv)
        log.info(
            "drift (%(rows_per_step)d ids x %(views)d views, weight %(drift_weight)s): "
            "%(seconds_per_step_with).3f s/step with, %(seconds_per_step_without).3f s/step "
            "without: ratio %(ratio).3f; the drift term alone %(drift_term_seconds).5f s: "
            "ratio %(ratio_from_term).5f",
            summary["drift"],
        )
    summary["load_average_after"] = os.getloadavg()
    from mwalign.files import write_json

    write_json(json.loads(json.dumps(summary, default=str)), args.out)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
