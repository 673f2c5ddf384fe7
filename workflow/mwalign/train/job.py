"""One train job, as one typed object: its params slice and the files it reads and writes.

The train rule's script builds a :class:`TrainJob` once from the rule's params, inputs
and outputs; :func:`mwalign.train.launch.train_job` runs it in this process or hands it
to torchrun workers on their command line (:meth:`TrainJob.argv`), which
``python -m mwalign.train`` turns back into the same object (:meth:`TrainJob.from_argv`).

Example::

    job = TrainJob(
        params=train_params(config, "multiway"),
        dataset_path="results/dataset/multiway.parquet",
        student_path="resources/models/intfloat--multilingual-e5-small",
        out_dir="results/models/multiway",
    )
    train_run(job)
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _path(value: str | os.PathLike | None) -> Path | None:
    return None if value is None else Path(value)


@dataclass(frozen=True)
class TrainJob:
    """What one train job depends on and where it writes.

    ``params``: :func:`mwalign.train.params.train_params`' slice; ``dataset_path``: the
    multi-way or En-X Parquet file matching ``params['data']``
    (:func:`mwalign.train.params.dataset_name`); ``student_path``: the student's
    sentence-transformers folder; ``out_dir``: the trained model's folder;
    ``teacher_path``: the teacher embeddings (the soft, similarity_mse and embedding_mse
    objectives read them); ``frozen_path``: the pretrained student's embeddings of the
    dataset (:mod:`mwalign.frozen`; runs with ``drift_weight > 0`` read them);
    ``log_dir``: TensorBoard events, when tensorboard is installed; ``report_to``:
    experiment trackers the Trainer also logs to (``config.train.report_to``). Paths are
    kept as :class:`~pathlib.Path`.
    """

    params: dict[str, Any]
    dataset_path: Path
    student_path: Path
    out_dir: Path
    teacher_path: Path | None = None
    frozen_path: Path | None = None
    log_dir: Path | None = None
    report_to: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in (
            "dataset_path",
            "student_path",
            "out_dir",
            "teacher_path",
            "frozen_path",
            "log_dir",
        ):
            object.__setattr__(self, name, _path(getattr(self, name)))
        object.__setattr__(self, "report_to", tuple(self.report_to))

    def argv(self, params_path: Path) -> list[str]:
        """This job as ``python -m mwalign.train`` arguments; ``params_path``: a JSON file
        that holds :attr:`params` (written by the caller)."""
        args = ["--params", str(params_path), "--dataset", str(self.dataset_path)]
        args += ["--student", str(self.student_path), "--out", str(self.out_dir)]
        if self.teacher_path is not None:
            args += ["--teacher", str(self.teacher_path)]
        if self.frozen_path is not None:
            args += ["--frozen", str(self.frozen_path)]
        if self.log_dir is not None:
            args += ["--log-dir", str(self.log_dir)]
        for tracker in self.report_to:
            args += ["--report-to", tracker]
        return args

    @classmethod
    def from_argv(cls, argv: Sequence[str] | None = None) -> TrainJob:
        """The job that :meth:`argv` wrote (``None``: this process's command line)."""
        args = parser().parse_args(argv)
        return cls(
            params=json.loads(args.params.read_text()),
            dataset_path=args.dataset,
            student_path=args.student,
            out_dir=args.out,
            teacher_path=args.teacher,
            frozen_path=args.frozen,
            log_dir=args.log_dir,
            report_to=args.report_to,
        )


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m mwalign.train`` (see :mod:`mwalign.train.__main__`)."""
    parser = argparse.ArgumentParser(
        prog="python -m mwalign.train",
        description="Train one job in this process: one of the workers torchrun starts.",
    )
    parser.add_argument("--params", type=Path, required=True, help="JSON file of train_params")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--student", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--teacher", type=Path, default=None)
    parser.add_argument("--frozen", type=Path, default=None)
    parser.add_argument("--log-dir", type=Path, default=None)
    parser.add_argument("--report-to", action="append", default=[], help="experiment tracker")
    return parser
