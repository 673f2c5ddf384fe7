"""How fast a device does each kind of work: a peak and the share of it reached.

- A named GPU: its dense bf16 peak from NVIDIA's data sheets (:data:`GPUS`) times a
  utilisation per kind of work. The utilisations are stated assumptions
  (:data:`GPU_UTILISATION`) unless ``results/bench/gpu_check.json`` holds figures
  measured on that GPU by ``bench/gpu_check.py``: then training's is the MFU it measured,
  encoding's and generation's are its sentences/s and generated tokens/s turned into
  FLOP/s by the same counts as here (:mod:`.shapes`).
- This machine's CPU: a short matrix-product probe (:func:`probe_cpu`: a linear layer of
  the model's width, one thread, in the precision the job would run: bf16 autocast where
  ``auto`` picks it, else the faster of MKL and oneDNN as an fp32 job's own probe does)
  gives FLOP/s per core; :data:`CPU_UTILISATION` states the share of it each kind of work
  reaches.

Every figure says where it comes from (``sources``), so the table can print it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# name -> (words the device name holds, dense bf16 TFLOP/s without sparsity, data sheet).
# bf16_peak matches a device name against them in this order: more specific names first.
GPUS: dict[str, tuple[tuple[str, ...], float]] = {
    "h100-pcie": (("H100", "PCIe"), 756.0),
    "h100-nvl": (("H100", "NVL"), 835.0),
    "h200-nvl": (("H200", "NVL"), 835.0),
    "h100": (("H100",), 989.0),  # SXM
    "h200": (("H200",), 989.0),  # SXM
    "gh200": (("GH200",), 989.0),
    "b200": (("B200",), 2250.0),
    "a100": (("A100",), 312.0),
    "l40s": (("L40S",), 362.0),
    "l4": (("L4",), 121.0),
    "a10": (("A10",), 125.0),
    "rtx4090": (("RTX 4090",), 165.0),  # fp32 accumulate
}

# Share of the bf16 peak reached on a GPU, assumed where no gpu_check figure exists:
# training steps of base-size encoders on multi-way batches (thousands of tokens per
# step); encoding in batches of 32 short sentences, which launches more kernels than it
# keeps busy (the project's goal of 5,000 sentences/s for a base model on an H100 is 3%);
# decoding, limited by reading the weights and the cache for every generated token.
GPU_UTILISATION = {"train": 0.30, "encode": 0.05, "generate": 0.05}

# Share of one core's probed FLOP/s reached on a CPU, from the figures of
# docs/performance.md on the AMD EPYC (Zen 5), fp32 on oneDNN: e5-small encodes 68.1
# sentences/s on one thread (about 2,500 tokens/s, 107 GFLOP/s) where its FFN product runs
# at 194 GFLOP/s (0.55); a multi-way training step of 16 ids x 7 languages on two threads
# took 5.57 s (about 46 GFLOP/s per core, 0.24). Generation is not measured on a CPU here.
CPU_UTILISATION = {"encode": 0.55, "train": 0.25, "generate": 0.25}

# Seconds a job spends before its first sentence (interpreter, imports of torch,
# sentence-transformers and mteb, the model folder's hash, model load): an evaluation of
# e5-small in the default experiment's run log on the AMD EPYC (Zen 5), two jobs starting
# side by side: 1 s to the job's first line, 3.4 s of imports, 3.6 s to hash and load the
# model (bench/job_startup.py times each part on a machine).
JOB_START_SECONDS = 8.0
# A job that loads no model (sample, assemble, a reference translation shard, report)
# starts in about 2 s: its whole run took 1.9-2.5 s in the same log (sample, assemble, the
# twelve reference shards).
LIGHT_JOB_START_SECONDS = 2.0

GPU_CHECK_FILE = Path("results") / "bench" / "gpu_check.json"


@dataclass(frozen=True)
class Rates:
    """FLOP/s per unit of a device (one GPU, or one CPU core) for each kind of work."""

    device: str
    unit: str  # "GPU" or "core"
    units: int  # GPUs (1) or the CPU's cores
    peak: dict[str, float]  # kind -> FLOP/s per unit at full use (the probe's, per precision)
    utilisation: dict[str, float]
    sources: dict[str, str] = field(default_factory=dict)
    job_start_seconds: float = JOB_START_SECONDS  # a job that loads a model
    light_job_start_seconds: float = LIGHT_JOB_START_SECONDS  # one that loads none

    def flops_per_second(self, kind: str) -> float:
        return self.peak[kind] * self.utilisation[kind]


def bf16_peak(device_name: str) -> float | None:
    """Dense bf16 TFLOP/s of the device called ``device_name`` (as torch names it), or None."""
    for needles, tflops in GPUS.values():
        if all(needle in device_name for needle in needles):
            return tflops
    return None


def _calibration(check: dict[str, Any], peak_flops: float) -> dict[str, float]:
    """Utilisations measured by bench/gpu_check.py (its JSON ``check``) on a GPU whose
    bf16 peak is ``peak_flops``: training's MFU; encoding's and generation's rates turned
    into FLOP/s with the FLOPs per sentence or token it recorded."""
    parts, found = check.get("parts", {}), {}
    train = parts.get("train") or {}
    if train.get("achieved_tflops"):
        found["train"] = train["achieved_tflops"] * 1e12 / peak_flops
    evaluate = parts.get("evaluate") or {}
    per_sentence = evaluate.get("flops_per_sentence")
    runs = [run for run in evaluate.get("runs", []) if run.get("precision") == "bf16"]
    if per_sentence and runs:
        best = max(run["sentences_per_second"] for run in runs if run["batch_size"] == 32)
        found["encode"] = best * per_sentence / peak_flops
    translate = parts.get("translate") or {}
    per_token = translate.get("generation_flops_per_token")
    rate = translate.get("sorted", {}).get("tokens_per_second")
    if per_token and rate:
        found["generate"] = rate * per_token / peak_flops
    return found


def gpu_rates(name: str, root: str | Path = ".") -> Rates:
    """Rates of the GPU ``name`` (a key of :data:`GPUS`), calibrated by
    ``results/bench/gpu_check.json`` under ``root`` where it was measured on that GPU."""
    if name not in GPUS:
        raise ValueError(f"unknown GPU {name!r}; known: {', '.join(GPUS)}")
    needles, tflops = GPUS[name]
    peak = tflops * 1e12
    utilisation = dict(GPU_UTILISATION)
    assumed = f"assumed (no {GPU_CHECK_FILE} measured on an {name}: run bench/gpu_check.py there)"
    sources = dict.fromkeys(utilisation, assumed)
    path = Path(root) / GPU_CHECK_FILE
    if path.is_file():
        check = json.loads(path.read_text())
        machine = check.get("machine", {})
        device = machine.get("gpu", "")
        same_gpu = bf16_peak(device) == tflops and all(needle in device for needle in needles)
        if machine.get("device") == "cuda" and not machine.get("tiny") and same_gpu:
            for kind, value in _calibration(check, peak).items():
                utilisation[kind] = value
                sources[kind] = f"measured by bench/gpu_check.py on {device} ({path})"
    return Rates(
        device=f"NVIDIA {name.upper()} ({tflops:g} dense bf16 TFLOP/s)",
        unit="GPU",
        units=1,
        peak=dict.fromkeys(utilisation, peak),
        utilisation=utilisation,
        sources=sources,
    )


def probe_cpu(precision: str, hidden: int, windows: int = 5, seconds: float = 0.08) -> float:
    """FLOP/s of one core on a linear layer ``hidden -> 4 * hidden`` over 1,024 tokens, in
    ``precision`` (``bf16``: autocast; ``fp32``: the faster of MKL and oneDNN): the best of
    ``windows`` timings of ``seconds`` each, so that other work on a shared machine
    lowers it less."""
    import torch
    import torch.nn.functional as F

    from mwalign.cpu_kernels import onednn_available, onednn_linear

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1024, hidden, generator=generator)
    weight = torch.randn(4 * hidden, hidden, generator=generator)
    flops = 2.0 * 1024 * hidden * 4 * hidden
    kernels = [F.linear]
    if precision == "fp32" and onednn_available():
        kernels.append(onednn_linear)
    best = 0.0
    try:
        with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
            for linear in kernels:
                linear(x, weight)  # first call: kernel selection, caches
                for _ in range(windows):
                    start, calls = time.perf_counter(), 0
                    while time.perf_counter() - start < seconds:
                        linear(x, weight)
                        calls += 1
                    best = max(best, flops * calls / (time.perf_counter() - start))
    finally:
        torch.set_num_threads(threads)
    return best


def cpu_rates(precisions: dict[str, str], hidden: int) -> Rates:
    """Rates of this machine's CPU for work in ``precisions`` (kind -> ``auto``, ``fp32``,
    ``bf16``: the config's setting), probed at the model width ``hidden``."""
    from mwalign.precision import choose_precision, cpu_bf16_features

    features = cpu_bf16_features()
    peak, sources, probed = {}, {}, {}
    for kind, requested in precisions.items():
        chosen = choose_precision(
            requested=requested, device_type="cpu", cuda_bf16=False, cpu_features=features
        )
        if chosen.name not in probed:
            probed[chosen.name] = probe_cpu(chosen.name, hidden)
        peak[kind] = probed[chosen.name]
        sources[kind] = (
            f"{chosen.name} ({chosen.reason}): probe {probed[chosen.name] / 1e9:.0f} GFLOP/s "
            f"per core at width {hidden}, x {CPU_UTILISATION[kind]:.2f} assumed "
            "(docs/performance.md)"
        )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return Rates(
        device=f"this machine's CPU ({cores} cores)",
        unit="core",
        units=cores or 1,
        peak=peak,
        utilisation={kind: CPU_UTILISATION[kind] for kind in peak},
        sources=sources,
    )
