"""fp32 inference on a CPU: torch's BLAS (MKL) or oneDNN for the linear layers, the faster.

torch's CPU build runs an fp32 ``nn.Linear`` through its BLAS, MKL, whose fastest code
paths are chosen by CPU vendor; oneDNN, which torch also ships (``torch.utils.mkldnn``),
chooses by instruction set. Measured for e5-small, 1,000 sentences, one thread, on an AMD
EPYC (Zen 5, AVX-512): 41.5 sentences/s through MKL, 66.8 through oneDNN, embeddings equal
to 1.5e-7. Which one is faster depends on the CPU, so an inference job times both on a
probe batch of the model's own shape and keeps the faster, as a BLAS picks its kernels at
run time; the choice and both timings are recorded. Only fp32 inference: bf16 autocast
already runs on oneDNN, and oneDNN's linear modules carry no gradients, so training keeps
torch's default.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# oneDNN is kept only when it beats the BLAS by this factor: below it the two are within
# timing noise, and the BLAS stays (no flip-flopping between runs).
MARGIN = 0.9
PROBE_REPEATS = 3


def _linear_layers(model: Any) -> list[tuple[Any, str, Any]]:
    """(parent, attribute, layer) of every ``nn.Linear`` inside ``model``."""
    import torch

    found = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is torch.nn.Linear:
                found.append((parent, name, child))
    return found


def _probe_seconds(model: Any, *, seq_length: int, batch_size: int) -> float:
    """Fastest of a few encodes of a full batch of ``seq_length``-token sentences."""
    texts = [" ".join(["word"] * seq_length)] * batch_size
    best = float("inf")
    for _ in range(PROBE_REPEATS):
        start = time.perf_counter()
        model.encode(texts, batch_size=batch_size, show_progress_bar=False)
        best = min(best, time.perf_counter() - start)
    return best


def choose_fp32_kernels(
    model: Any,
    *,
    seq_length: int,
    batch_size: int,
    measure: Callable[[Any], float] | None = None,
) -> dict[str, Any]:
    """Run the linear layers of ``model`` (a SentenceTransformer on the CPU, fp32) on
    oneDNN where that is faster here; returns the record of the choice.

    ``measure(model)`` is the seconds of one probe (default: :func:`_probe_seconds`);
    ``{"fp32_kernels": "blas" | "onednn", "fp32_kernels_probe_seconds": {...}}`` is
    returned (``fp32_kernels_reason`` instead of the timings where nothing was timed).
    """
    import torch

    try:
        from torch.utils.mkldnn import MkldnnLinear
    except ImportError:
        MkldnnLinear = None
    if MkldnnLinear is None or not torch.backends.mkldnn.is_available():
        return {"fp32_kernels": "blas", "fp32_kernels_reason": "this torch has no oneDNN"}

    measure = measure or (lambda m: _probe_seconds(m, seq_length=seq_length, batch_size=batch_size))
    layers = _linear_layers(model)
    if not layers:
        return {"fp32_kernels": "blas", "fp32_kernels_reason": "no linear layers"}
    with torch.inference_mode(), warnings.catch_warnings():
        # oneDNN's modules are TorchScript, which torch deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        blas = measure(model)
        for parent, name, layer in layers:
            setattr(parent, name, MkldnnLinear(layer, torch.float))
        onednn = measure(model)
        keep = onednn < MARGIN * blas
        if not keep:
            for parent, name, layer in layers:
                setattr(parent, name, layer)
    chosen = "onednn" if keep else "blas"
    seconds = {"blas": round(blas, 4), "onednn": round(onednn, 4)}
    log.info(
        "fp32 linear layers on %s (probe of %d x %d tokens: BLAS %.3f s, oneDNN %.3f s)",
        "oneDNN" if keep else "the BLAS",
        batch_size,
        seq_length,
        blas,
        onednn,
    )
    return {"fp32_kernels": chosen, "fp32_kernels_probe_seconds": seconds}


__all__ = ["choose_fp32_kernels"]
