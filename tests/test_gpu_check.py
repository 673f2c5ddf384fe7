"""bench/gpu_check.py: its device table, its refusal without CUDA, and its code paths in
the tiny CPU mode (figures are printed there, never asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.py"
sys.path.insert(0, str(ROOT / "bench"))

import gpu_check  # noqa: E402


def run_check(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "workflow"), env.get("PYTHONPATH", "")])
    command = [sys.executable, str(SCRIPT), *args, "--out", str(tmp_path / "check.json")]
    return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)


def test_bf16_peaks_match_device_names():
    assert gpu_check.bf16_peak("NVIDIA H100 80GB HBM3") == 989.0
    assert gpu_check.bf16_peak("NVIDIA H100 PCIe") == 756.0
    assert gpu_check.bf16_peak("NVIDIA H200") == 989.0
    assert gpu_check.bf16_peak("NVIDIA A100-SXM4-80GB") == 312.0
    assert gpu_check.bf16_peak("NVIDIA L40S") == 362.0
    assert gpu_check.bf16_peak("Some Future GPU") is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_without_cuda_it_fails_clearly(tmp_path):
    done = run_check("--part", "train", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "gpu_check needs a CUDA device" in done.stderr
    assert "--device cpu --tiny" in done.stderr
    assert not (tmp_path / "check.json").exists()


@pytest.mark.slow
def test_tiny_cpu_run_goes_through_every_part(tmp_path):
    done = run_check(
        "--device", "cpu", "--tiny", "--work", str(tmp_path / "work"), tmp_path=tmp_path
    )
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads((tmp_path / "check.json").read_text())
    parts = summary["parts"]
    train = parts["train"]
    assert train["steps_per_second"] > 0 and train["tokens_per_second"] > 0
    assert train["padded_tokens_per_step"] >= train["tokens_per_step"] > 0
    assert train["mfu"] is None  # no peak is known for a CPU
    runs = parts["evaluate"]["runs"]
    assert [(r["precision"], r["batch_size"]) for r in runs] == [
        ("fp32", 8), ("fp32", 32), ("bf16", 8), ("bf16", 32)
    ]  # fmt: skip
    assert all(r["sentences_per_second"] > 0 for r in runs)
    translate = parts["translate"]
    for kind in ("naive", "sorted"):
        assert translate[kind]["translated_rows"] == translate["sentences"] == 16
        assert translate[kind]["generated_tokens"] > 0
    assert translate["sorted"]["batches"] != translate["naive"]["batches"]  # other batching
    # the FLOP counts that let these figures calibrate `mwalign plan --cost` on a GPU
    evaluate = parts["evaluate"]
    assert evaluate["flops_per_sentence"] == pytest.approx(
        2 * train["non_embedding_parameters"] * evaluate["tokens_per_sentence"], rel=1e-3
    )
    assert translate["generation_flops_per_token"] > 0
    assert "skipped" in parts["vllm"] or parts["vllm"]["translated_rows"] == 8
    assert summary["goals"] == dict.fromkeys(gpu_check.GOALS, "n/a")  # tiny: no verdicts
    assert "| train |" in done.stdout and "| translate |" in done.stdout
