"""Precision chosen for the machine: auto, explicit choices, and how CPU features are read."""

from __future__ import annotations

import logging

import pytest
import torch
from mwalign import precision as precision_module
from mwalign.precision import (
    Precision,
    choose_precision,
    cpu_bf16_features,
    precision_for,
    proc_cpuinfo_bf16_features,
)

ICE_LAKE = set()  # AVX-512, but neither AVX512-BF16 nor AMX
SAPPHIRE_RAPIDS = {"avx512_bf16", "amx_bf16"}


def choose(requested, device="cpu", cuda_bf16=False, features=frozenset()):
    return choose_precision(
        requested=requested, device_type=device, cuda_bf16=cuda_bf16, cpu_features=set(features)
    )


@pytest.mark.parametrize(
    ("device", "cuda_bf16", "features", "expected"),
    [
        ("cpu", False, ICE_LAKE, "fp32"),
        ("cpu", False, SAPPHIRE_RAPIDS, "bf16"),
        ("cpu", False, {"avx512_bf16"}, "bf16"),  # Cooper Lake, Zen 4: no AMX
        ("cpu", False, {"amx_bf16"}, "bf16"),
        ("cuda", True, ICE_LAKE, "bf16"),
        ("cuda", False, SAPPHIRE_RAPIDS, "fp32"),  # a GPU before Ampere; the CPU does not matter
        ("mps", False, SAPPHIRE_RAPIDS, "fp32"),
    ],
)
def test_auto_is_bf16_only_where_native(device, cuda_bf16, features, expected):
    chosen = choose("auto", device, cuda_bf16, features)
    assert chosen.name == expected
    assert chosen.reason.startswith(f"auto: {expected} on a ")
    assert not chosen.costly


def test_auto_names_the_cpu_features_it_found():
    assert "amx_bf16, avx512_bf16" in choose("auto", features=SAPPHIRE_RAPIDS).reason
    assert "without AVX512-BF16 or AMX" in choose("auto", features=ICE_LAKE).reason


@pytest.mark.parametrize("requested", ["fp32", "bf16"])
def test_explicit_choices_are_kept(requested):
    assert choose(requested, features=SAPPHIRE_RAPIDS) == Precision(requested, f"{requested} asked")
    assert choose(requested, "cuda", cuda_bf16=True).name == requested


def test_bf16_on_a_cpu_without_native_bf16_is_kept_with_its_measured_cost():
    chosen = choose("bf16", features=ICE_LAKE)
    assert chosen.name == "bf16"
    assert chosen.costly
    assert "3.4x slower than fp32" in chosen.reason


def test_fp16_needs_a_gpu():
    assert choose("fp16", features=SAPPHIRE_RAPIDS).name == "fp32"
    assert choose("fp16", features=SAPPHIRE_RAPIDS).costly
    assert choose("fp16", "cuda", cuda_bf16=False) == Precision("fp16", "fp16 asked")


def test_unknown_precision_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown precision 'bfloat16'"):
        choose("bfloat16")


def test_precision_for_warns_with_the_cost_on_a_cpu_without_bf16(monkeypatch, caplog):
    monkeypatch.setattr(precision_module, "cpu_bf16_features", lambda: set())
    with caplog.at_level(logging.INFO, logger="mwalign.precision"):
        assert precision_for("auto", "cpu").name == "fp32"
        assert precision_for("bf16", "cpu").name == "bf16"
    levels = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert levels[0][0] == logging.INFO and "auto: fp32" in levels[0][1]
    assert levels[1][0] == logging.WARNING and "3.4x slower" in levels[1][1]


def test_precision_for_on_native_bf16_picks_bf16(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_bf16_features", lambda: {"amx_bf16"})
    assert precision_for("auto", "cpu") == Precision("bf16", "auto: bf16 on a CPU with amx_bf16")


CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni avx512_vbmi2
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni avx512_vbmi2 {extra}
"""


def test_proc_cpuinfo_flags(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(extra=""))
    assert proc_cpuinfo_bf16_features(path) == set()
    path.write_text(CPUINFO.format(extra="avx512_bf16 amx_tile amx_bf16 amx_int8"))
    assert proc_cpuinfo_bf16_features(path) == {"avx512_bf16", "amx_bf16"}
    assert proc_cpuinfo_bf16_features(tmp_path / "missing") == set()


def test_cpu_features_fall_back_to_proc_cpuinfo_without_torch_probes(tmp_path, monkeypatch):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(extra="avx512_bf16"))
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    assert cpu_bf16_features(path) == {"avx512_bf16"}


def test_cpu_features_from_torch_probes(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert cpu_bf16_features() == set()
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert cpu_bf16_features() == {"amx_bf16"}


def test_autocast_runs_bf16_only_when_chosen():
    layer = torch.nn.Linear(4, 4)
    with Precision("bf16", "").autocast("cpu"):
        assert layer(torch.ones(1, 4)).dtype == torch.bfloat16
    with Precision("fp32", "").autocast("cpu"):
        assert layer(torch.ones(1, 4)).dtype == torch.float32
