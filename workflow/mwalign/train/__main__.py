"""Command line of the train stage, for multi-process launches on one node:

    torchrun --nproc_per_node 4 -m mwalign.train --params params.json \\
        --dataset results/dataset/multiway.parquet --student resources/models/STUDENT \\
        --out results/models/RUN [--teacher results/teacher/TEACHER.parquet]

``params.json`` holds :func:`mwalign.train.train_params`' slice. Every process loads the
data and the student; the Trainer shards each global batch of ``batch_ids`` ids across
processes and the losses gather embeddings so the contrastive batch stays global.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from mwalign.train.trainer import train_run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mwalign.train", description=__doc__)
    parser.add_argument("--params", type=Path, required=True, help="JSON file of train_params")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--student", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--teacher", type=Path, default=None)
    parser.add_argument("--log-dir", type=Path, default=None)
    parser.add_argument("--report-to", action="append", default=[], help="experiment tracker")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    params = json.loads(args.params.read_text())
    train_run(
        params=params,
        dataset_path=args.dataset,
        student_path=args.student,
        out_dir=args.out,
        teacher_path=args.teacher,
        log_dir=args.log_dir,
        report_to=args.report_to,
    )


if __name__ == "__main__":
    main()
