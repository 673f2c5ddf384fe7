"""fp32 inference kernels on a CPU: oneDNN kept only where it is faster, with equal outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mwalign.cpu_kernels import choose_fp32_kernels
from sentence_transformers import SentenceTransformer
from workflow_helpers import tiny_student

TEXTS = ["In the beginning was the Word.", "Jesus wept.", "And God said, Let there be light."]

pytestmark = pytest.mark.skipif(
    not torch.backends.mkldnn.is_available(), reason="this torch has no oneDNN"
)


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return tiny_student(tmp_path_factory.mktemp("models") / "tiny")


def linear_types(model) -> set[str]:
    return {type(m).__name__ for m in model.modules() if "Linear" in type(m).__name__}


def test_onednn_is_kept_where_faster_and_gives_the_same_embeddings(student):
    model = SentenceTransformer(str(student), device="cpu")
    before = model.encode(TEXTS)
    timings = iter([1.0, 0.5])  # BLAS, then oneDNN
    record = choose_fp32_kernels(
        model, seq_length=16, batch_size=4, measure=lambda m: next(timings)
    )
    assert record["fp32_kernels"] == "onednn"
    assert record["fp32_kernels_probe_seconds"] == {"blas": 1.0, "onednn": 0.5}
    assert linear_types(model) == {"MkldnnLinear"}
    np.testing.assert_allclose(model.encode(TEXTS), before, atol=1e-5)


@pytest.mark.parametrize("onednn_seconds", [1.0, 0.95, 2.0])
def test_the_blas_stays_unless_onednn_is_clearly_faster(student, onednn_seconds):
    model = SentenceTransformer(str(student), device="cpu")
    layers = [m for m in model.modules() if type(m) is torch.nn.Linear]
    timings = iter([1.0, onednn_seconds])
    record = choose_fp32_kernels(
        model, seq_length=16, batch_size=4, measure=lambda m: next(timings)
    )
    assert record["fp32_kernels"] == "blas"
    assert [m for m in model.modules() if type(m) is torch.nn.Linear] == layers  # the same objects
    assert linear_types(model) == {"Linear"}


def test_the_real_probe_times_both(student):
    model = SentenceTransformer(str(student), device="cpu")
    record = choose_fp32_kernels(model, seq_length=8, batch_size=2)
    assert set(record["fp32_kernels_probe_seconds"]) == {"blas", "onednn"}
    assert all(seconds > 0 for seconds in record["fp32_kernels_probe_seconds"].values())
    assert record["fp32_kernels"] in {"blas", "onednn"}
