"""Two CPU processes (gloo) score the same global batch as one process: same loss value,
and data-parallel averaged gradients equal the single-process gradients."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mwalign.train.job import TrainJob
from mwalign.train.launch import torchrun_command, train_job
from mwalign.train.losses import EmbeddingMSE, MultiwayInfoNCE, SimilarityMSE, SoftContrastive
from mwalign.train.params import train_params
from mwalign.train.trainer import train_run
from test_train_fixtures import make_datasets, make_student, train_config
from torch import nn

WORLD, BATCH, VIEWS, DIM_IN, DIM_OUT, DIM_TEACHER = 2, 6, 3, 5, 4, 3


class LinearEncoder(nn.Module):
    """Stands in for a student: features {"x": (B, DIM_IN)} -> sentence embeddings."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(DIM_IN, DIM_OUT)

    def forward(self, features: dict) -> dict:
        return {"sentence_embedding": self.linear(features["x"])}


def make_loss(name: str, model: nn.Module) -> nn.Module:
    if name == "infonce":
        return MultiwayInfoNCE(model, temperature=0.1)
    if name == "infonce_k_rows":  # VIEWS slots per row, drawn from VIEWS + 1 languages
        return MultiwayInfoNCE(model, temperature=0.1, n_languages=VIEWS + 1)
    if name == "soft":
        return SoftContrastive(model, 0.1, label_strategy="average", tcm=True, tcm_lambda=0.5)
    if name == "similarity_mse":
        return SimilarityMSE(model, temperature=0.1, label_strategy="average")
    return EmbeddingMSE(model, DIM_OUT, DIM_TEACHER)


def global_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(VIEWS, WORLD * BATCH, DIM_IN, generator=generator)
    labels = torch.nn.functional.normalize(
        torch.randn(WORLD * BATCH, VIEWS, DIM_TEACHER, generator=generator), dim=-1
    )
    return inputs, labels


def row_languages() -> torch.Tensor:
    """(WORLD * BATCH, VIEWS) distinct sorted language indices per row, of VIEWS + 1."""
    generator = torch.Generator().manual_seed(2)
    order = torch.stack(
        [torch.randperm(VIEWS + 1, generator=generator) for _ in range(WORLD * BATCH)]
    )
    return order[:, :VIEWS].sort(dim=1).values


def loss_and_grads(name: str, rows: slice) -> tuple[torch.Tensor, list[torch.Tensor]]:
    inputs, labels = global_batch()
    if name == "infonce_k_rows":
        labels = row_languages()
    model = LinearEncoder()
    loss = make_loss(name, model)
    value = loss([{"x": view[rows]} for view in inputs], labels[rows])
    value.backward()
    return value.detach(), [p.grad for p in loss.parameters()]


NAMES = ["infonce", "infonce_k_rows", "soft", "similarity_mse", "embedding_mse"]


def worker(rank: int, folder: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"file://{folder}/store", rank=rank, world_size=WORLD
    )
    for name in NAMES:
        value, grads = loss_and_grads(name, slice(rank * BATCH, (rank + 1) * BATCH))
        for grad in grads:  # what DistributedDataParallel does: average over processes
            dist.all_reduce(grad)
            grad /= WORLD
        torch.save({"loss": value, "grads": grads}, f"{folder}/{name}-rank{rank}.pt")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gloo")
    mp.spawn(worker, args=(str(folder),), nprocs=WORLD, join=True)
    return folder


@pytest.mark.parametrize("name", NAMES)
def test_two_process_gathered_loss_equals_single_process(two_process_results: Path, name: str):
    single_loss, single_grads = loss_and_grads(name, slice(None))
    results = [torch.load(two_process_results / f"{name}-rank{r}.pt") for r in range(WORLD)]
    losses = torch.stack([r["loss"] for r in results])
    if name == "embedding_mse":  # a per-row loss: no gathering, the mean over processes
        assert losses.mean().item() == pytest.approx(single_loss.item(), rel=1e-5)
    else:  # the global batch on every process
        assert torch.allclose(losses, single_loss.expand(WORLD), rtol=1e-5)
    for result in results:
        for got, want in zip(result["grads"], single_grads, strict=True):
            assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_torchrun_two_processes_train_like_one(tmp_path: Path, monkeypatch):
    """The train job with two workers (torchrun, 2 CPU processes, gloo) follows the
    single-process loss curve: each global batch is split across processes and the loss
    gathers it back."""
    torch.set_num_threads(1)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    student = make_student(tmp_path / "student", dropout=0.0)  # no dropout: deterministic
    data = make_datasets(tmp_path / "data")
    params = train_params(train_config(steps=3, checkpoint_every=2), "multiway")
    single = train_run(
        TrainJob(
            params=params,
            dataset_path=data["multiway"],
            student_path=student,
            out_dir=tmp_path / "single",
        )
    )
    log_path = tmp_path / "train.log"
    double = TrainJob(
        params=params,
        dataset_path=data["multiway"],
        student_path=student,
        out_dir=tmp_path / "double",
    )
    train_job(double, processes=2, threads=2, log_path=log_path)
    assert "training process 2 of 2" in log_path.read_text()  # the workers' output is logged
    curves = [loss_curve(tmp_path / run / "loss_curve.csv") for run in ("single", "double")]
    assert len(curves[1]) == 3 == single["result"]["steps"]
    assert curves[1] == pytest.approx(curves[0], rel=1e-4)
    record = json.loads((tmp_path / "double" / "mwalign_run.json").read_text())
    assert record["result"]["steps"] == 3
    assert not (tmp_path / ".double.params.json").exists()


def test_torchrun_command_is_an_argument_list():
    job = TrainJob(params={}, dataset_path="d.parquet", student_path="s", out_dir="o")
    command = torchrun_command(4, job, Path("p.json"))
    assert command[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    assert command[5] == "4" and "--teacher" not in command
    with pytest.raises(ValueError, match="processes must be at least 1, got 0"):
        train_job(job, processes=0)


def test_a_train_job_survives_its_command_line(tmp_path):
    """The workers' command line gives back the job the launching process built."""
    params = {"job": "multiway", "train": {"steps": 2}}
    job = TrainJob(
        params=params,
        dataset_path="d.parquet",
        student_path="s",
        out_dir="o",
        teacher_path="t.parquet",
        log_dir="logs/x",
        report_to=["tensorboard", "wandb"],
    )
    params_path = tmp_path / "p.json"
    params_path.write_text(json.dumps(params))
    assert TrainJob.from_argv(job.argv(params_path)) == job
    bare = TrainJob(params=params, dataset_path="d.parquet", student_path="s", out_dir="o")
    assert TrainJob.from_argv(bare.argv(params_path)) == bare


def loss_curve(path: Path) -> list[float]:
    return [float(line.split(",")[2]) for line in path.read_text().splitlines()[1:]]
