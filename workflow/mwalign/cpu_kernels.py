"""fp32 on a CPU: torch's BLAS (MKL) or oneDNN for the linear layers, the faster.

torch's CPU build runs an fp32 ``nn.Linear`` (forward and backward) through its BLAS,
MKL, whose fastest code paths are chosen by CPU vendor; oneDNN, which torch also ships,
chooses by instruction set. Measured on an AMD EPYC (Zen 5, AVX-512), one thread, the
shapes of e5-small (1,280 tokens, 384 -> 384, 384 -> 1,536, 1,536 -> 384): a forward pass
takes 4.2 / 16.1 / 17.0 ms through MKL and 1.8 / 7.8 / 7.6 ms through oneDNN. Which one
is faster depends on the CPU, so a job times both on its model's own layer shapes (well
under a second) and keeps oneDNN only where it is clearly faster, as a BLAS picks its
kernels at run time; the choice and both timings are recorded.

oneDNN runs as :class:`OneDNNLinear`, an ``nn.Linear`` whose forward and backward call
oneDNN's matrix multiplication (``torch.ops.mkldnn._linear_pointwise``, the kernel
torch's own compiler emits for linear layers on a CPU). It keeps the layer's parameters,
so the optimiser, ``state_dict`` and the saved model are unchanged; only the float
rounding of the products differs (relative 1e-6). Under autocast, or for any input that
is not fp32 on the CPU, it runs ``nn.Linear``'s own forward: bf16 already runs on oneDNN.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

log = logging.getLogger(__name__)

# oneDNN is kept only when it beats the BLAS by this factor: below it the two are within
# timing noise, and the BLAS stays (no flip-flopping between runs).
MARGIN = 0.9
PROBE_REPEATS = 3
# Rows of the probe's inputs: a batch's tokens, capped (the ratio settles well before).
MAX_PROBE_TOKENS = 4096
# Below this the BLAS's time is call overhead (a tiny test model): nothing worth choosing,
# and timings that small would make the choice change from run to run.
MIN_PROBE_SECONDS = 2e-3
KERNELS = ("blas", "onednn")


def _matmul_nt(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None):
    """``a @ b.T (+ bias)`` on oneDNN, for 2-D fp32 ``a`` [m, k] and ``b`` [n, k]."""
    return torch.ops.mkldnn._linear_pointwise(a, b, bias, "none", [], "")


class _OneDNNLinearFunction(torch.autograd.Function):
    """``F.linear`` with oneDNN products in both directions:
    y = x Wᵀ + b;  dx = dy W;  dW = dyᵀ x;  db = Σ dy (the formulas of ``nn.Linear``)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        flat = x.reshape(-1, x.shape[-1])
        return _matmul_nt(flat, weight, bias).reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        flat_grad = grad.reshape(-1, grad.shape[-1])
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = _matmul_nt(flat_grad, weight.t().contiguous()).reshape(x.shape)
        if ctx.needs_input_grad[1]:
            flat_x = x.reshape(-1, x.shape[-1])
            grad_weight = _matmul_nt(flat_grad.t().contiguous(), flat_x.t().contiguous())
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = flat_grad.sum(0)
        return grad_x, grad_weight, grad_bias


def onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None):
    """``F.linear(x, weight, bias)`` with oneDNN's fp32 products (differentiable)."""
    return _OneDNNLinearFunction.apply(x, weight, bias)


class OneDNNLinear(nn.Linear):
    """An ``nn.Linear`` (same parameters) whose fp32 CPU products run on oneDNN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.dtype != torch.float32
            or x.device.type != "cpu"
            or self.weight.dtype != torch.float32
            or torch.is_autocast_enabled("cpu")
        ):
            return F.linear(x, self.weight, self.bias)
        return onednn_linear(x, self.weight, self.bias)


def onednn_available() -> bool:
    """Whether this torch has oneDNN and its linear kernel."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """Every plain ``nn.Linear`` (or :class:`OneDNNLinear`) inside ``model``."""
    return [m for m in model.modules() if type(m) in (nn.Linear, OneDNNLinear)]


def use_kernels(layers: list[nn.Linear], kernels: str) -> None:
    """Run ``layers`` on ``kernels`` (``blas`` or ``onednn``), in place: the modules, their
    parameters and everything that refers to them stay the same objects."""
    cls = {"blas": nn.Linear, "onednn": OneDNNLinear}[kernels]
    for layer in layers:
        layer.__class__ = cls


def _probe_seconds(
    shapes: Counter, *, tokens: int, backward: bool, kernels: str, repeats: int = PROBE_REPEATS
) -> float:
    """Fastest of ``repeats`` passes over the layer ``shapes`` ((out, in) -> count) on
    ``tokens`` random rows: the forward (and, with ``backward``, the backward) products."""
    linear = F.linear if kernels == "blas" else onednn_linear
    generator = torch.Generator().manual_seed(0)
    cases = []
    for (out_features, in_features), count in shapes.items():
        x = torch.randn(tokens, in_features, generator=generator, requires_grad=backward)
        weight = torch.randn(out_features, in_features, generator=generator)
        weight.requires_grad_(backward)
        bias = torch.zeros(out_features, requires_grad=backward)
        grad = torch.randn(tokens, out_features, generator=generator)
        cases.append((x, weight, bias, grad, count))

    def one_pass() -> float:
        total = 0.0
        for x, weight, bias, grad, count in cases:
            start = time.perf_counter()
            with torch.set_grad_enabled(backward):
                y = linear(x, weight, bias)
                if backward:
                    torch.autograd.grad(y, (x, weight, bias), grad)
            total += count * (time.perf_counter() - start)
        return total

    one_pass()  # warm-up: oneDNN builds its kernels on first use
    return min(one_pass() for _ in range(repeats))


def choose_fp32_kernels(
    model: nn.Module,
    *,
    tokens: int,
    backward: bool = False,
    measure: Callable[[str], float] | None = None,
) -> dict[str, Any]:
    """Run the linear layers of ``model`` (fp32, on the CPU) on oneDNN where that is
    clearly faster here than the BLAS; returns the record of the choice.

    ``tokens`` is the rows of a batch (sentences x tokens; capped at
    :data:`MAX_PROBE_TOKENS`); ``backward`` times the backward products too (training).
    ``measure(kernels)`` is the seconds of one probe on ``"blas"`` or ``"onednn"``
    (default: :func:`_probe_seconds` on the model's layer shapes). Returns
    ``{"fp32_kernels": "blas" | "onednn", "fp32_kernels_probe_seconds": {...}}``, with
    ``fp32_kernels_reason`` instead of the timings where nothing was timed.
    """
    if not onednn_available():
        return {"fp32_kernels": "blas", "fp32_kernels_reason": "this torch has no oneDNN"}
    layers = linear_layers(model)
    if not layers:
        return {"fp32_kernels": "blas", "fp32_kernels_reason": "no linear layers"}
    rows = max(1, min(tokens, MAX_PROBE_TOKENS))
    if measure is None:
        shapes = Counter((layer.out_features, layer.in_features) for layer in layers)

        def measure(kernels: str) -> float:
            return _probe_seconds(shapes, tokens=rows, backward=backward, kernels=kernels)

    seconds = {kernels: measure(kernels) for kernels in KERNELS}
    if seconds["blas"] < MIN_PROBE_SECONDS:
        use_kernels(layers, "blas")
        return {
            "fp32_kernels": "blas",
            "fp32_kernels_reason": f"linear layers too small to time ({seconds['blas']:.1e} s)",
        }
    chosen = "onednn" if seconds["onednn"] < MARGIN * seconds["blas"] else "blas"
    use_kernels(layers, chosen)
    log.info(
        "fp32 linear layers%s on %s (probe of %d layers x %d tokens: BLAS %.4f s, oneDNN %.4f s)",
        " (forward and backward)" if backward else "",
        "oneDNN" if chosen == "onednn" else "the BLAS",
        len(layers),
        rows,
        seconds["blas"],
        seconds["onednn"],
    )
    return {
        "fp32_kernels": chosen,
        "fp32_kernels_probe_seconds": {k: round(v, 5) for k, v in seconds.items()},
    }


__all__ = ["OneDNNLinear", "choose_fp32_kernels", "linear_layers", "onednn_linear", "use_kernels"]
