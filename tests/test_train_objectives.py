"""Every objective on a tiny student: gradients reach it, a few steps lower the loss, and
a whole run saves what the objective needs (the distillation projection)."""

from __future__ import annotations

import pytest
import torch
from mwalign.train.data import build_dataset
from mwalign.train.job import TrainJob
from mwalign.train.losses import build_loss
from mwalign.train.params import train_params
from mwalign.train.trainer import train_run
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Dense
from test_train_fixtures import LANGUAGES, train_config

OBJECTIVES = [
    ("multiway", "infonce", {}),
    ("enx", "infonce", {}),
    ("multiway", "infonce", {"pairs": "english"}),
    ("multiway", "soft", {}),
    ("enx", "soft", {"label_strategy": "average"}),
    ("multiway", "soft", {"label_strategy": "average", "tcm": True, "tcm_lambda": 0.5}),
    ("multiway", "similarity_mse", {}),
    ("enx", "similarity_mse", {"label_strategy": "average"}),
    ("multiway", "embedding_mse", {}),
]


def run_params(data_mode: str, objective: str, options: dict) -> dict:
    run = {"student": "tiny", "data": data_mode, "objective": objective}
    config = train_config(runs={"run": run}, learning_rate=1e-3, **options)
    return train_params(config, "run")


def one_batch(model: SentenceTransformer, dataset, size: int = 8):
    rows = dataset.select(range(size))
    views = [c for c in rows.column_names if c != "label"]
    features = [model.preprocess(rows[c], prompt="query: ") for c in views]
    labels = torch.tensor(rows["label"]) if "label" in rows.column_names else None
    return features, labels


@pytest.mark.parametrize(("data_mode", "objective", "options"), OBJECTIVES)
def test_gradients_flow_and_steps_lower_the_loss(student, data, data_mode, objective, options):
    torch.manual_seed(0)
    params = run_params(data_mode, objective, options)
    dataset, _ = build_dataset(params, data[data_mode], data["teacher"])
    model = SentenceTransformer(str(student), local_files_only=True)
    teacher_dim = len(dataset[0]["label"][0]) if "label" in dataset.column_names else None
    loss = build_loss(params, model, teacher_dim)
    features, labels = one_batch(model, dataset)
    optimizer = torch.optim.Adam(loss.parameters(), lr=1e-3)
    values = []
    for _ in range(6):
        optimizer.zero_grad()
        value = loss(features, labels)
        value.backward()
        if not values:
            grads = [p.grad for n, p in model.named_parameters() if "encoder.layer.0." in n]
            assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
        optimizer.step()
        values.append(value.item())
    assert values[-1] < values[0]


@pytest.mark.parametrize(
    ("data_mode", "objective", "options"),
    [OBJECTIVES[4], OBJECTIVES[6], OBJECTIVES[8]],
)
def test_teacher_objectives_train_end_to_end(
    tmp_path, student, data, data_mode, objective, options
):
    params = run_params(data_mode, objective, options)
    out = tmp_path / "model"
    record = train_run(
        TrainJob(
            params=params,
            dataset_path=data[data_mode],
            student_path=student,
            out_dir=out,
            teacher_path=data["teacher"],
        )
    )
    assert record["result"]["steps"] == 3
    assert record["params"]["teacher"]["languages"] == ["en", *LANGUAGES]
    if objective == "embedding_mse":  # student 32-d, teacher 16-d: a projection is learned
        projection = Dense.load(str(out / "distill_projection"))
        assert (projection.in_features, projection.out_features) == (32, 16)
        assert record["distill_projection"] == "distill_projection"
    SentenceTransformer(str(out), local_files_only=True)
