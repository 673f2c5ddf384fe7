"""fp32 linear-layer products on one CPU thread: MKL (torch's BLAS) and oneDNN.

    python bench/linear_kernels.py                 # e5-small's shapes, 1,400 tokens
    python bench/linear_kernels.py --tokens 1024 --backward

Times MKL and oneDNN with the fp32 jobs' own probe (``mwalign.cpu_kernels``: fastest of
``--repeats`` after a warm-up) on e5-small's three layer shapes (384 -> 384,
384 -> 1,536, 1,536 -> 384) and prints milliseconds and GFLOP/s per shape, with the
machine. 1,400 tokens is an evaluation batch of 32 verses
sorted by token length (43.5 tokens each on average in the default experiment).
GFLOP/s against the core's peak (fp32 FMAs per cycle x 2 x clock) says how much any
other kernel could still gain: :mod:`mwalign.cpu_kernels` chooses between these two.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import torch
from machine import describe as machine
from mwalign.cpu_kernels import _probe_seconds

SHAPES = ((384, 384), (384, 1536), (1536, 384))  # (in, out) of e5-small's linear layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=1400)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--backward", action="store_true", help="forward and backward products")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for in_features, out_features in SHAPES:
        flops = 2 * args.tokens * in_features * out_features * (3 if args.backward else 1)
        row = {"in": in_features, "out": out_features}
        for name, kernels in (("mkl", "blas"), ("onednn", "onednn")):
            took = _probe_seconds(
                Counter({(out_features, in_features): 1}),
                tokens=args.tokens,
                backward=args.backward,
                kernels=kernels,
                repeats=args.repeats,
            )
            row[f"{name}_ms"] = round(took * 1e3, 2)
            row[f"{name}_gflops"] = round(flops / took / 1e9, 1)
        rows.append(row)
        print(
            f"{in_features:>5} -> {out_features:<5} MKL {row['mkl_ms']:>7.2f} ms "
            f"{row['mkl_gflops']:>6.1f} GFLOP/s   oneDNN {row['onednn_ms']:>7.2f} ms "
            f"{row['onednn_gflops']:>6.1f} GFLOP/s"
        )
    print(json.dumps({"tokens": args.tokens, "backward": args.backward, "shapes": rows,
                      "machine": machine()}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
