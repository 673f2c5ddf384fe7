"""The machine a figure was measured on: recorded with every benchmark's results.

CPU model and the flags that decide precision and speed here (AVX-512, AVX512-BF16,
AMX), logical CPUs, memory, torch's view of the CPU and the precision ``auto`` chooses,
the GPU when there is one, and the load average (a shared machine inflates wall times).
"""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_info() -> tuple[str, set[str]]:
    """(model name with its family and model numbers, flags) from /proc/cpuinfo; the
    platform's name and no flags elsewhere. A virtual machine often names only the
    product line ("AMD EPYC"): the numbers tell its generation (family 25 is Zen 3,
    26 Zen 5; Intel's family 6 model 106 is Ice Lake)."""
    model, flags, numbers = platform.processor() or platform.machine(), set(), {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name":
                model = value.strip()
            elif key in ("cpu family", "model"):
                numbers.setdefault(key, value.strip())
            elif key == "flags":
                flags = set(value.split())
    if numbers:
        model += f" (family {numbers.get('cpu family', '?')} model {numbers.get('model', '?')})"
    return model, flags


def describe() -> dict:
    """CPU, memory, torch and GPU of this machine, and its load average now."""
    model, flags = cpu_info()
    info: dict = {
        "cpu_model": model,
        "cpu_flags": [flag for flag in CPU_FLAGS if flag in flags],
        "logical_cpus": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }
    with contextlib.suppress(ImportError):
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    with contextlib.suppress(ImportError):
        import torch
        from mwalign.precision import precision_for

        info["torch"] = torch.__version__
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["precision_auto_cpu"] = precision_for("auto", "cpu").reason
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    return info
