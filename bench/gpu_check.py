"""One short command that exercises every GPU path of the project on one GPU.

    python bench/gpu_check.py                          # a GPU machine: every part, minutes
    python bench/gpu_check.py --part train translate   # some parts
    python bench/gpu_check.py --device cpu --tiny      # the same code paths on a CPU

Every model is built from a config with random weights and a synthetic word-level
tokenizer (see bench/synthetic.py), so nothing is downloaded; only torch, transformers
and sentence-transformers are needed beyond the project (vLLM for its part, if present).
Each part runs in its own process (its own peak memory, its failure its own):

- train: ``train_run`` (the train stage's own code: sentence-transformers' Trainer, the
  multi-way InfoNCE loss, the unique-id batch sampler) on an XLM-R-base-sized student
  (12 layers, hidden 768, vocabulary 250,002; embeddings frozen as configured by
  default), bf16, multi-way batches of ``batch_ids`` ids x 7 views (en + 6 languages).
  Steady-state steps/s from two runs (warm-up steps, then warm-up + timed steps: the
  difference is the timed steps without start-up). Tokens/s counts real (non-padding)
  tokens. MFU = achieved FLOP/s / the device's dense bf16 peak, with training FLOPs per
  step = 6 * N * T + 12 * L * d * sum(s^2): N the non-embedding weights (embedding
  lookups do no matmuls), T the real tokens of the step, L layers, d hidden size, s each
  sequence's real length (attention scores and values, forward and backward).
- evaluate: the evaluate stage's encoder (``build_encoder``, sentence-transformers'
  encode) on the same base-sized encoder; sentences/s in fp32 and bf16 at the stage's
  batch size (32) and a larger one.
- translate: ``translate_shard`` with the transformers backend and an NLLB-600M-sized
  M2M100 (12 + 12 layers, d_model 1024, vocabulary 256,206), dtype auto (bf16 on a
  GPU), greedy, English to German: naive batching (input order, fixed batch size) vs the
  stage's default length-sorted token-budget batching; sentences/s, generated tokens/s.
  Random weights rarely emit EOS, so each sentence generates up to its cap
  (2 x source tokens + 16): more tokens per sentence than a trained model would.
- vllm: ``translate_shard`` with the vllm backend and a Qwen2-0.5B-sized Llama, where
  vLLM is importable (or ``--vllm-python`` names an interpreter that has it).

Prints one table, writes a JSON (default results/bench/gpu_check.json). Exit status: 0
when every part ran, 1 when a part failed, 2 when no CUDA device is present (unless
``--device cpu``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gpu_parts  # noqa: E402  (bench/gpu_parts.py, next to this file)
from machine import describe  # noqa: E402
from mwalign.cost.rates import bf16_peak  # noqa: E402  (the data sheets' dense bf16 peaks)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
log = logging.getLogger("bench.gpu_check")
ROOT = Path(__file__).resolve().parents[1]
PARTS = ("train", "evaluate", "translate", "vllm")

GOALS = {  # what the project aims for on one H100/H200
    "train_mfu": 0.40,
    "evaluate_sentences_per_second": 5000.0,
    "translate_speedup": 1.5,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny models and data (seconds)")
    parser.add_argument("--part", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak")
    parser.add_argument("--vllm-python", type=Path, help="an interpreter with vLLM")
    parser.add_argument("--part-timeout", type=int, default=900, help="seconds per part")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "gpu_check.json")
    parser.add_argument("--child", choices=PARTS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def machine(args: argparse.Namespace) -> dict:
    """The device, the software and the load: recorded with every figure."""
    import sentence_transformers
    import torch
    import transformers

    info = {
        "device": args.device,
        "tiny": args.tiny,
        **describe(),
        "load_average_after": os.getloadavg(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }
    if args.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update(
            cuda_visible_devices=one_device("cuda"),
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            capability=f"{props.major}.{props.minor}",
            gpus_visible=torch.cuda.device_count(),
        )
        info["bf16_peak_tflops"] = args.peak_tflops or bf16_peak(props.name)
    else:
        info["bf16_peak_tflops"] = args.peak_tflops
    return info


def no_cuda_message() -> str | None:
    """Why CUDA is unusable here, or None when a device is present."""
    import torch

    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        why = f"torch {torch.__version__} is a CPU-only build"
    else:
        why = f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no CUDA device"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        why += f" (CUDA_VISIBLE_DEVICES={visible!r})"
    return (
        f"gpu_check needs a CUDA device: {why}. Run it on a GPU machine, or test the code "
        "paths on a CPU with --device cpu --tiny."
    )


def one_device(device: str) -> str:
    """CUDA_VISIBLE_DEVICES of the parts: the first visible GPU (the Trainer would spread a
    process over all it sees), or none for --device cpu (the project then uses the CPU)."""
    if device == "cpu":
        return ""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return visible.split(",")[0].strip() if visible else "0"


def vllm_python(args: argparse.Namespace) -> Path | None:
    if args.vllm_python:
        return args.vllm_python
    return Path(sys.executable) if importlib.util.find_spec("vllm") else None


def run_part(args: argparse.Namespace, part: str, work: Path) -> dict:
    """Run one part in a child process; its result, or what went wrong."""
    python = Path(sys.executable)
    if part == "vllm":
        python = vllm_python(args)
        if python is None:
            return {"skipped": "vllm is not importable here (pass --vllm-python)"}
    command = [str(python), __file__, "--child", part, "--work", str(work)]
    command += ["--device", args.device] + (["--tiny"] if args.tiny else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "workflow"), str(ROOT)])}
    env["CUDA_VISIBLE_DEVICES"] = one_device(args.device)
    result_path = work / f"{part}.result.json"
    result_path.unlink(missing_ok=True)
    started = time.perf_counter()
    log.info("part %s: %s", part, " ".join(command))
    try:
        done = subprocess.run(command, env=env, timeout=args.part_timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"failed": f"timed out after {args.part_timeout} s"}
    seconds = round(time.perf_counter() - started, 1)
    if done.returncode != 0 or not result_path.exists():
        reason = f"exit status {done.returncode} (see its output above)"
        return {"failed": reason, "part_seconds": seconds}
    return json.loads(result_path.read_text()) | {"part_seconds": seconds}


def goal_rows(results: dict, real_gpu: bool) -> dict[str, str]:
    """Each goal as 'met' / 'not met' (a full run on a GPU), else 'n/a'."""
    measured = {
        "train_mfu": results.get("train", {}).get("mfu"),
        "evaluate_sentences_per_second": max(
            (row["sentences_per_second"] for row in results.get("evaluate", {}).get("runs", [])),
            default=None,
        ),
        "translate_speedup": results.get("translate", {}).get("speedup"),
    }
    verdicts = {}
    for key, goal in GOALS.items():
        value = measured[key]
        if value is None or not real_gpu:
            verdicts[key] = "n/a"
        else:
            verdicts[key] = "met" if value >= goal else "not met"
    return verdicts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.child:
        return gpu_parts.run_child(args.child, args.work, args.device, args.tiny)
    if args.device == "cuda" and (message := no_cuda_message()):
        log.error("%s", message)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    summary: dict = {"parts": {part: run_part(args, part, work) for part in args.part}}
    # read after the parts, so that this process holds no CUDA context while they run
    summary["machine"] = machine(args) | {"load_average_before": load_before}
    peak = summary["machine"]["bf16_peak_tflops"]
    if "train" in summary["parts"]:
        gpu_parts.add_mfu(summary["parts"]["train"], peak)
    real_gpu = args.device == "cuda" and not args.tiny
    summary["goals"] = goal_rows(summary["parts"], real_gpu)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(gpu_parts.table(summary, GOALS))
    log.info("wrote %s", args.out)
    failed = [part for part, result in summary["parts"].items() if "failed" in result]
    if failed:
        log.error("parts that failed: %s", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
