"""Numeric precision of a forward pass, chosen for the machine a job runs on.

``auto`` (the default of evaluation and training) picks bf16 only where it is native: a
CUDA device with bf16, or a CPU with AVX512-BF16 or AMX. Everywhere else it picks fp32,
because bf16 autocast on a CPU without those instructions is emulated and slower than
fp32 (measured for e5-small on one thread of an Ice Lake Xeon, AVX-512 without
AVX512-BF16: 63.4 sentences/s in fp32, 18.6 under bf16 autocast, 3.4x slower).
``fp32``, ``bf16`` and ``fp16`` are explicit choices and are kept; asking for bf16 on a
CPU without native bf16 logs a warning with that cost.

The choice is made in the job, not when the workflow is planned: on a cluster the node
that runs a job need not be the one that planned it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# /proc/cpuinfo flags of the instructions that make bf16 matrix products native on a CPU.
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
EMULATED_BF16_COST = (
    "bf16 autocast is emulated on a CPU without AVX512-BF16 or AMX: measured 3.4x slower "
    "than fp32 for e5-small on an Ice Lake Xeon (18.6 vs 63.4 sentences/s, one thread)"
)


@dataclass(frozen=True)
class Precision:
    """A precision chosen for a job: its name (fp32, bf16 or fp16) and why."""

    name: str
    reason: str
    costly: bool = False  # asked for something this device does not do natively

    def record(self) -> dict[str, str]:
        """``{"precision": ..., "precision_reason": ...}``, for result files and run records."""
        return {"precision": self.name, "precision_reason": self.reason}

    def autocast(self, device_type: str) -> Any:
        """A ``torch.autocast`` context for this precision on ``device_type`` (off for fp32)."""
        import torch

        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)
        return torch.autocast(device_type, dtype=dtype, enabled=dtype is not None)


def cpu_bf16_features(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The native bf16 features of this CPU, among ``NATIVE_BF16_CPU_FLAGS``.

    Read from torch's own CPU probe (the cpuinfo library torch is built with) where this
    torch has it, and from the kernel's ``/proc/cpuinfo`` flags otherwise.
    """
    import torch

    probes = {
        "avx512_bf16": getattr(torch.cpu, "_is_avx512_bf16_supported", None),
        "amx_bf16": getattr(torch.cpu, "_is_amx_tile_supported", None),
    }
    if all(probe is not None for probe in probes.values()):
        return {flag for flag, probe in probes.items() if probe()}
    return proc_cpuinfo_bf16_features(cpuinfo)


def proc_cpuinfo_bf16_features(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The ``NATIVE_BF16_CPU_FLAGS`` listed in the ``flags`` lines of ``cpuinfo`` (Linux)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return flags & set(NATIVE_BF16_CPU_FLAGS)


def choose_precision(
    *, requested: str, device_type: str, cuda_bf16: bool, cpu_features: set[str]
) -> Precision:
    """The precision to run with, from what was asked and what the device has natively.

    Args:
        requested: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        device_type: torch device type the model runs on (``cpu``, ``cuda``, ...).
        cuda_bf16: whether the CUDA device supports bf16 (``torch.cuda.is_bf16_supported()``).
        cpu_features: the CPU's native bf16 features (:func:`cpu_bf16_features`).
    """
    if requested not in ("auto", "fp32", "bf16", "fp16"):  # the schemas' choices
        raise ValueError(f"unknown precision {requested!r}")
    on_cpu = device_type == "cpu"
    native = (not on_cpu and device_type == "cuda" and cuda_bf16) or (on_cpu and bool(cpu_features))
    where = (
        f"CPU with {', '.join(sorted(cpu_features))}"
        if on_cpu and cpu_features
        else "CPU without AVX512-BF16 or AMX"
        if on_cpu
        else f"{device_type} device {'with' if native else 'without'} bf16"
    )
    if requested == "auto":
        name = "bf16" if native else "fp32"
        return Precision(name, f"auto: {name} on a {where}")
    if requested == "fp16" and on_cpu:
        return Precision("fp32", "fp16 asked, but fp16 autocast needs a GPU: fp32 on the CPU", True)
    if requested == "bf16" and not native:
        cost = EMULATED_BF16_COST if on_cpu else "it is emulated there"
        return Precision("bf16", f"bf16 asked on a {where}; {cost}", True)
    return Precision(requested, f"{requested} asked")


def precision_for(requested: str, device_type: str) -> Precision:
    """:func:`choose_precision` for this machine; logs the choice (a warning where it costs)."""
    import torch

    cuda_bf16 = device_type == "cuda" and torch.cuda.is_bf16_supported()
    features = cpu_bf16_features() if device_type == "cpu" else set()
    chosen = choose_precision(
        requested=requested, device_type=device_type, cuda_bf16=cuda_bf16, cpu_features=features
    )
    (log.warning if chosen.costly else log.info)("precision %s (%s)", chosen.name, chosen.reason)
    return chosen


__all__ = [
    "Precision",
    "choose_precision",
    "cpu_bf16_features",
    "precision_for",
    "proc_cpuinfo_bf16_features",
]
