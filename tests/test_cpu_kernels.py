"""fp32 kernels on a CPU: oneDNN kept only where it is faster, with nn.Linear's results."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mwalign.cpu_kernels import (
    OneDNNLinear,
    _probe_seconds,
    choose_fp32_kernels,
    linear_layers,
    onednn_available,
    onednn_linear,
    use_kernels,
)
from sentence_transformers import SentenceTransformer
from torch.nn import functional as F
from workflow_helpers import tiny_student

TEXTS = ["In the beginning was the Word.", "Jesus wept.", "And God said, Let there be light."]

pytestmark = pytest.mark.skipif(not onednn_available(), reason="this torch has no oneDNN")


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return tiny_student(tmp_path_factory.mktemp("models") / "tiny")


def linear_types(model) -> set[str]:
    return {type(m).__name__ for m in linear_layers(model)}


@pytest.mark.parametrize("shape", [(5, 16), (3, 7, 16)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_onednn_linear_matches_torch_linear_and_its_gradients(shape, with_bias):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(*shape, generator=generator, requires_grad=True)
    weight = torch.randn(24, 16, generator=generator, requires_grad=True)
    bias = torch.randn(24, generator=generator, requires_grad=True) if with_bias else None
    grad = torch.randn(*shape[:-1], 24, generator=generator)
    inputs = [t for t in (x, weight, bias) if t is not None]
    outputs = {}
    for name, linear in (("torch", F.linear), ("onednn", onednn_linear)):
        y = linear(x, weight, bias)
        outputs[name] = (y, *torch.autograd.grad(y, inputs, grad))
    for ours, reference in zip(outputs["onednn"], outputs["torch"], strict=True):
        torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)


def test_a_frozen_weight_gets_no_gradient_and_the_input_still_does():
    x = torch.randn(4, 8, requires_grad=True)
    weight, bias = torch.randn(6, 8), torch.randn(6)  # frozen
    onednn_linear(x, weight, bias).sum().backward()
    torch.testing.assert_close(x.grad, weight.sum(0).expand(4, 8), rtol=1e-5, atol=1e-5)
    assert weight.grad is None


def test_under_autocast_it_runs_torchs_own_linear():
    layer = torch.nn.Linear(8, 4)
    use_kernels([layer], "onednn")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(torch.randn(2, 8)).dtype == torch.bfloat16


def test_onednn_is_kept_where_faster_with_the_same_modules_and_embeddings(student):
    model = SentenceTransformer(str(student), device="cpu")
    before = model.encode(TEXTS)
    layers, state = linear_layers(model), model.state_dict()
    timings = {"blas": 1.0, "onednn": 0.5}
    record = choose_fp32_kernels(model, tokens=64, measure=timings.get)
    assert record == {"fp32_kernels": "onednn", "fp32_kernels_probe_seconds": timings}
    assert linear_types(model) == {"OneDNNLinear"}
    assert linear_layers(model) == layers  # the same objects, so the optimiser's too
    assert model.state_dict().keys() == state.keys()
    np.testing.assert_allclose(model.encode(TEXTS), before, atol=1e-5)


def test_a_training_step_on_onednn_gives_the_blas_gradients(student):
    gradients = {}
    for kernels in ("blas", "onednn"):
        model = SentenceTransformer(str(student), device="cpu")
        use_kernels(linear_layers(model), kernels)
        model.train()
        torch.manual_seed(0)  # the same dropout masks
        features = model.tokenize(TEXTS)
        model(features)["sentence_embedding"].square().sum().backward()
        gradients[kernels] = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert gradients["onednn"].keys() == gradients["blas"].keys()
    assert isinstance(next(iter(linear_layers(model))), OneDNNLinear)
    for name, reference in gradients["blas"].items():
        torch.testing.assert_close(gradients["onednn"][name], reference, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("onednn_seconds", [1.0, 0.95, 2.0])
def test_the_blas_stays_unless_onednn_is_clearly_faster(student, onednn_seconds):
    model = SentenceTransformer(str(student), device="cpu")
    timings = {"blas": 1.0, "onednn": onednn_seconds}
    record = choose_fp32_kernels(model, tokens=64, backward=True, measure=timings.get)
    assert record["fp32_kernels"] == "blas"
    assert linear_types(model) == {"Linear"}


def test_layers_too_small_to_time_stay_on_the_blas(student):
    model = SentenceTransformer(str(student), device="cpu")
    record = choose_fp32_kernels(model, tokens=8, measure={"blas": 1e-4, "onednn": 1e-5}.get)
    assert record["fp32_kernels"] == "blas"
    assert "too small" in record["fp32_kernels_reason"]
    assert linear_types(model) == {"Linear"}


@pytest.mark.parametrize("backward", [False, True])
def test_the_real_probe_times_both(backward):
    shapes = {(64, 32): 2, (32, 64): 1}
    for kernels in ("blas", "onednn"):
        seconds = _probe_seconds(shapes, tokens=16, backward=backward, kernels=kernels, repeats=1)
        assert 0 < seconds < 5


def test_the_real_choice_on_a_tiny_model_is_recorded(student):
    model = SentenceTransformer(str(student), device="cpu")
    record = choose_fp32_kernels(model, tokens=8)
    assert record["fp32_kernels"] in {"blas", "onednn"}
    assert ("fp32_kernels_probe_seconds" in record) != ("fp32_kernels_reason" in record)
