"""The drift regulariser (``train.drift_weight``) and its frozen-embeddings stage on tiny
fixtures: the penalty against a hand transcription, the stage encoding exactly as
training does, the labels reaching the loss, a whole run, and the jobs it plans."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mwalign.errors import ConfigError
from mwalign.frozen import (
    embed_frozen,
    frozen_embeddings,
    frozen_jobs,
    frozen_params,
    read_frozen_table,
)
from mwalign.train.data import build_dataset
from mwalign.train.drift import with_frozen_labels
from mwalign.train.job import TrainJob
from mwalign.train.losses import DriftRegularised, MultiwayInfoNCE, build_loss
from mwalign.train.losses.drift import drift_penalty
from mwalign.train.params import train_params
from mwalign.train.trainer import train_run
from sentence_transformers import SentenceTransformer
from test_train_fixtures import LANGUAGES, train_config


def hand_drift(views: list[torch.Tensor], frozen: torch.Tensor) -> float:
    """mean over every (row, view) sentence of sum_k (e_k/|e| - f_k/|f|)^2, in loops."""
    total, count = 0.0, 0
    for v, view in enumerate(views):
        for r in range(view.shape[0]):
            e, f = view[r], frozen[r, v]
            e_norm, f_norm = float(e.norm()), float(f.norm())
            total += sum((float(e[k]) / e_norm - float(f[k]) / f_norm) ** 2 for k in range(len(e)))
            count += 1
    return total / count


def test_drift_penalty_equals_hand_transcription():
    generator = torch.Generator().manual_seed(3)
    views = [torch.randn(4, 6, generator=generator, dtype=torch.float64) for _ in range(3)]
    frozen = torch.randn(4, 3, 6, generator=generator, dtype=torch.float64)
    got = drift_penalty(views, frozen)
    assert got.item() == pytest.approx(hand_drift(views, frozen), rel=1e-6)
    assert drift_penalty(views, torch.stack(views, dim=1)).item() == pytest.approx(0, abs=1e-6)


def test_wrapper_adds_the_weighted_penalty_and_splits_teacher_labels():
    """labels = [frozen (V*d) | teacher (V_t*d_t)]: the objective sees its own labels."""
    generator = torch.Generator().manual_seed(4)
    views = [torch.randn(3, 4, generator=generator) for _ in range(2)]
    frozen = torch.randn(3, 2, 4, generator=generator)
    teacher = torch.randn(3, 1, 5, generator=generator)
    seen = {}

    class Objective(MultiwayInfoNCE):
        def compute_loss_from_views(self, views, labels=None):
            seen["labels"] = labels
            return super().compute_loss_from_views(views, labels)

    class Embedder(torch.nn.Module):
        def forward(self, features):
            return {"sentence_embedding": features["x"]}

    objective = Objective(None, temperature=0.1)
    objective.model = Embedder()
    loss = DriftRegularised(objective, weight=0.3, views=2, dim=4, label_shape=(1, 5))
    labels = torch.cat([frozen.reshape(3, -1), teacher.reshape(3, -1)], dim=1)
    terms = loss([{"x": view} for view in views], labels)
    assert torch.equal(seen["labels"], teacher)
    expected = MultiwayInfoNCE(None, temperature=0.1).compute_loss_from_views(views)
    assert terms["objective"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert terms["drift"].item() == pytest.approx(0.3 * hand_drift(views, frozen), rel=1e-5)
    assert loss.get_config_dict()["drift_weight"] == 0.3
    assert "objective.model" not in "".join(loss.state_dict())  # the student is saved once


def drift_config(**train):
    runs = {
        "multiway": {"student": "tiny", "data": "multiway", "objective": "infonce"},
        "enx": {"student": "tiny", "data": "enx", "objective": "infonce"},
        "soft": {"student": "tiny", "data": "multiway", "objective": "soft"},
    }
    return train_config(runs=runs, **train)


def make_frozen(tmp_path, student, data, dataset: str):
    config = drift_config(drift_weight=0.5)
    config["students"]["tiny"]["model"] = str(student)
    settings = frozen_params(config, "tiny", dataset)
    out = tmp_path / f"{dataset}.parquet"
    info = embed_frozen(
        student_path=student,
        dataset_path=data[dataset],
        out_path=out,
        info_path=tmp_path / f"{dataset}.json",
        settings=settings,
    )
    return out, info


@pytest.mark.parametrize("dataset", ["multiway", "enx"])
def test_frozen_embeddings_are_what_training_encodes_at_step_zero(tmp_path, student, data, dataset):
    """Before any step (dropout off) the penalty on the training path is 0: the stage used
    the student's prefix, length, pooling and normalisation as the training batches do."""
    out, info = make_frozen(tmp_path, student, data, dataset)
    rows = 40  # train and dev rows (every tenth in dev): the dev loss reads them too
    assert info["rows"] == rows * (len(LANGUAGES) + 1 if dataset == "multiway" else 2)
    assert info["precision"] == "fp32"
    table = read_frozen_table(out)
    assert set(table["lang"].to_pylist()) == {"en", *LANGUAGES}
    params = train_params(drift_config(drift_weight=0.5), dataset)
    dataset_rows, ids = build_dataset(params, data[dataset])
    views = len(dataset_rows.column_names)
    labelled, dim, shape = with_frozen_labels(
        dataset_rows, ids, params, data[dataset], out, split="train"
    )
    assert (dim, shape) == (32, None)
    model = SentenceTransformer(str(student), local_files_only=True).eval()
    loss = DriftRegularised(build_loss(params, model, None), 0.5, views=views, dim=dim)
    rows = labelled.select(range(8))
    features = [model.preprocess(rows[c], prompt="query: ") for c in rows.column_names[:views]]
    with torch.no_grad():
        terms = loss(features, torch.stack(list(rows["label"])))
    assert terms["drift"].item() == pytest.approx(0, abs=1e-6)


def test_missing_sentence_names_the_file(tmp_path, student, data):
    out, _ = make_frozen(tmp_path, student, data, "enx")
    with pytest.raises(ValueError, match=r"no frozen embedding for sentence id 0 in 'xx'"):
        frozen_embeddings(out, [0], [["xx"]])


@pytest.mark.parametrize("run", ["soft", "enx"])
def test_drift_run_trains_end_to_end(tmp_path, student, data, run):
    """A whole run with the regulariser, teacher labels beside the frozen ones (soft)."""
    params = train_params(drift_config(drift_weight=0.5), run)
    dataset = params["data"]
    frozen, _ = make_frozen(tmp_path, student, data, dataset)
    out = tmp_path / "model"
    record = train_run(
        TrainJob(
            params=params,
            dataset_path=data[dataset],
            student_path=student,
            out_dir=out,
            teacher_path=data["teacher"],
            frozen_path=frozen,
        )
    )
    assert record["loss"]["name"] == "DriftRegularised"
    assert record["loss"]["drift_weight"] == 0.5
    assert record["provenance"]["inputs"]["frozen"]
    assert record["result"]["steps"] == 3 and np.isfinite(record["result"]["final_loss"])
    saved = json.loads((out / "mwalign_run.json").read_text())
    assert saved["params"]["train"]["drift_weight"] == 0.5


def test_a_drift_run_without_the_frozen_file_is_refused(tmp_path, student, data):
    params = train_params(drift_config(drift_weight=0.5), "multiway")
    job = TrainJob(
        params=params, dataset_path=data["multiway"], student_path=student, out_dir=tmp_path / "m"
    )
    with pytest.raises(ValueError, match="drift_weight = 0.5 needs the frozen embeddings"):
        train_run(job)


def test_frozen_jobs_one_per_student_and_dataset():
    assert frozen_jobs(drift_config()) == []  # weight 0 (the default): no stage runs
    assert frozen_jobs(drift_config(drift_weight=0.1)) == ["tiny/multiway", "tiny/enx"]
    config = drift_config()
    config["runs"]["enx"]["drift_weight"] = 0.1
    assert frozen_jobs(config) == ["tiny/enx"]


def test_defaults_keep_todays_params_and_reject_bad_values():
    params = train_params(drift_config(), "multiway")
    assert (params["train"]["denominator"], params["train"]["drift_weight"]) == ("standard", 0)
    with pytest.raises(ConfigError, match="drift_weight"):
        drift_config(drift_weight=-1)
    with pytest.raises(ConfigError, match="denominator 'negatives' applies to the infonce"):
        drift_config(denominator="negatives")  # the soft run inherits it


def test_torchrun_workers_get_the_frozen_file(tmp_path):
    """A multi-process job hands its files to workers on their command line."""
    job = TrainJob(
        params={}, dataset_path="d.parquet", student_path="s", out_dir="o", frozen_path="f.parquet"
    )
    params = tmp_path / "params.json"
    params.write_text("{}")
    assert TrainJob.from_argv(job.argv(params)).frozen_path == job.frozen_path


@pytest.mark.parametrize("denominator", ["standard", "negatives"])
def test_k_language_rows_with_the_regulariser(tmp_path, student, data, denominator):
    """Rows of two languages (the paper's design with fewer languages) with the drift term:
    each slot's frozen embedding is its own language's, so the step-zero penalty is 0, and a
    whole run trains with the negatives-only denominator too."""
    runs = {"multiway": {"student": "tiny", "data": "multiway", "objective": "infonce"}}
    config = train_config(runs=runs, drift_weight=0.5, row_languages=2, denominator=denominator)
    params = train_params(config, "multiway")
    frozen, _ = make_frozen(tmp_path, student, data, "multiway")
    dataset_rows, ids = build_dataset(params, data["multiway"])
    views = len(dataset_rows.column_names) - 1  # two slots and the languages label
    labelled, dim, shape = with_frozen_labels(
        dataset_rows, ids, params, data["multiway"], frozen, split="train"
    )
    assert (views, shape) == (2, (2,))
    model = SentenceTransformer(str(student), local_files_only=True).eval()
    loss = DriftRegularised(
        build_loss(params, model, None), 0.5, views=views, dim=dim, label_shape=shape
    )
    rows = labelled.select(range(8))
    features = [model.preprocess(rows[c], prompt="query: ") for c in ("slot_0", "slot_1")]
    with torch.no_grad():
        terms = loss(features, torch.stack(list(rows["label"])))
    assert terms["drift"].item() == pytest.approx(0, abs=1e-6)
    assert np.isfinite(terms["objective"].item())
    record = train_run(
        TrainJob(
            params=params,
            dataset_path=data["multiway"],
            student_path=student,
            out_dir=tmp_path / "model",
            frozen_path=frozen,
        )
    )
    assert record["loss"]["denominator"] == denominator
    assert record["result"]["steps"] == 3 and np.isfinite(record["result"]["final_loss"])


def test_mwalign_plan_lists_the_frozen_jobs():
    from mwalign.plan import job_table

    rows = [row for row in job_table(drift_config(drift_weight=0.1)) if row["stage"] == "frozen"]
    assert rows == [
        {"stage": "frozen", "job": "tiny/multiway"},
        {"stage": "frozen", "job": "tiny/enx"},
    ]
    assert not [row for row in job_table(drift_config()) if row["stage"] == "frozen"]
