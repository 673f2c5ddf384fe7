"""Command line of the train stage, for multi-process launches on one node:

    torchrun --nproc_per_node 4 -m mwalign.train --params params.json \\
        --dataset results/dataset/multiway.parquet --student resources/models/STUDENT \\
        --out results/models/RUN [--teacher results/teacher/TEACHER.parquet]

The arguments are a :class:`mwalign.train.job.TrainJob`'s (its ``argv``); ``params.json``
holds :func:`mwalign.train.params.train_params`' slice. Every process loads the data and
the student; the Trainer shards each global batch of ``batch_ids`` ids across processes
and the losses gather embeddings so the contrastive batch stays global.
"""

from __future__ import annotations

import logging

from mwalign.train.job import TrainJob
from mwalign.train.trainer import train_run


def main(argv: list[str] | None = None) -> None:
    job = TrainJob.from_argv(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    train_run(job)


if __name__ == "__main__":
    main()
