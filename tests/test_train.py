"""The train stage: config slices, the sampler, the data and end-to-end runs on a tiny student."""

from __future__ import annotations

import copy
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from datasets import Dataset
from mwalign.config import validate_config
from mwalign.evaluate.params import evaluate_params
from mwalign.files import StageInputError
from mwalign.jobs import train_jobs
from mwalign.precision import Precision
from mwalign.train.data import UniqueIdBatchSampler, build_dataset, teacher_labels
from mwalign.train.job import TrainJob
from mwalign.train.params import train_params
from mwalign.train.trainer import train_run, training_arguments
from safetensors.torch import load_file
from sentence_transformers import SentenceTransformer
from test_train_fixtures import LANGUAGES, train_config, train_raw


def test_default_like_config_is_accepted():
    assert train_config()["train"]["keep_checkpoints"] == 2  # a schema default filled in


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["runs"]["enx"].update(student="nope"), "student = 'nope'.*known students"),
        (lambda c: c["runs"]["enx"].update(objective="triplet"), "objective: 'triplet' is not one"),
        (lambda c: c["runs"]["enx"].update(data="pairs"), r"data: 'pairs' is not one of \['multi"),
        (lambda c: c["train"].update(steps=0), "train.steps: 0 is less than the minimum of 1"),
        (lambda c: c["train"].update(learning_rate=-1.0), "learning_rate: -1.0 is less than or"),
        (
            lambda c: c["train"].update(precision="fp8"),
            r"'fp8' is not one of \['auto', 'fp32'",
        ),
        (lambda c: c["train"].update(lr=1.0), r"\('lr' was unexpected\)"),
        (lambda c: c["runs"]["enx"].update(batch_ids=1), "runs.enx.batch_ids: 1 is less than"),
        (lambda c: c["runs"]["enx"].update(seeds=[1, 1]), r"seeds: \[1, 1\] lists \[1\] more"),
        (lambda c: c.update(runs={}), "at least one run"),
        (
            lambda c: (
                c["teacher"].update(languages=["en"]),
                c["runs"]["enx"].update(objective="soft", label_strategy="average"),
            ),
            "teacher.languages lacks",
        ),
    ],
)
def test_bad_config_values_are_named(change, message):
    config = train_raw()
    change(config)
    with pytest.raises(ValueError, match=message):
        validate_config(config)


def test_train_params_resolves_overrides_seeds_and_teacher():
    runs = train_raw()["runs"]
    runs["soft"] = {
        "student": "tiny",
        "data": "multiway",
        "objective": "soft",
        "temperature": 0.1,
        "seeds": [0, 1],
    }
    config = train_config(runs=runs)
    assert train_jobs(config) == ["multiway", "enx", "soft-seed0", "soft-seed1"]
    multiway, enx = train_params(config, "multiway"), train_params(config, "enx")
    assert multiway["seed"] == enx["seed"]  # same seed, steps and batch for both data modes
    assert multiway["train"] == enx["train"]
    assert multiway["teacher"] is None  # infonce does not depend on the teacher
    soft1 = train_params(config, "soft-seed1")
    assert soft1["train"]["temperature"] == 0.1 and soft1["replicate"] == 1
    assert soft1["seed"] != train_params(config, "soft-seed0")["seed"]
    assert soft1["teacher"]["languages"] == ["en", *LANGUAGES]
    assert multiway["student"]["prefix"] == "query: "
    with pytest.raises(ValueError, match="unknown train job 'soft'"):
        train_params(config, "soft")


def test_sampler_never_repeats_an_id_in_a_batch():
    ids = [0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8]
    dataset = Dataset.from_dict({"en": [str(i) for i in ids]})
    sampler = UniqueIdBatchSampler(dataset, batch_size=4, drop_last=True, seed=3, ids=ids)
    for epoch in range(5):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert batches and all(len(b) == 4 for b in batches)
        assert all(len({ids[i] for i in b}) == 4 for b in batches)
        assert len({i for b in batches for i in b}) == 4 * len(batches)  # no row used twice
    sampler.set_epoch(1)
    assert list(sampler) == list(sampler)  # deterministic per seed and epoch


def test_build_dataset_views_and_teacher_labels(data):
    runs = train_raw()["runs"]
    runs["enx"].update(objective="soft", label_strategy="average")
    params = train_params(train_config(runs=runs), "enx")
    dataset, ids = build_dataset(params, data["enx"], data["teacher"])
    assert dataset.column_names == ["en", "text", "label"]
    assert len(ids) == len(dataset) == 36  # train split only
    labels = torch.tensor(dataset["label"])
    assert labels.shape == (36, 2, 16)  # (rows, views, teacher dim)
    assert torch.allclose(labels.norm(dim=-1), torch.ones(36, 2), atol=1e-5)
    multiway, _ = build_dataset(train_params(train_config(), "multiway"), data["multiway"])
    assert multiway.column_names == ["en", *LANGUAGES]


FP32 = Precision("fp32", "fp32 asked")


def test_training_arguments_carry_prefix_and_batch(tmp_path):
    params = train_params(train_config(), "enx")
    args = training_arguments(params, tmp_path, list(range(36)), FP32)
    assert args.prompts == "query: "
    assert args.per_device_train_batch_size == 4
    params["train"]["match"] = "sentences"
    args = training_arguments(params, tmp_path, list(range(36)), FP32)
    assert args.per_device_train_batch_size == 4 * (len(LANGUAGES) + 1) // 2
    assert args.max_steps == params["train"]["steps"]
    params["train"].update(match="pairs", row_languages=2)  # C(2, 2) = 1 pair per row
    assert training_arguments(params, tmp_path, list(range(36)), FP32).max_steps == 3
    params["train"]["row_languages"] = None  # k = 3 languages: C(3, 2) = 3 pairs per row
    args = training_arguments(params, tmp_path, list(range(36)), FP32)
    assert (args.max_steps, args.per_device_train_batch_size) == (3 * 3, 4)
    assert args.warmup_steps == round(0.1 * 9)  # warmup over the derived steps


@pytest.mark.parametrize("run", ["multiway", "enx"])
def test_train_run_saves_a_model_with_its_record(tmp_path, student, data, run):
    params = train_params(train_config(), run)
    out = tmp_path / "models" / run
    record = train_run(
        TrainJob(
            params=params, dataset_path=data[params["data"]], student_path=student, out_dir=out
        )
    )
    assert sorted(p.name for p in out.parent.iterdir()) == [run]  # no work or temp folders left
    assert json.loads((out / "mwalign_run.json").read_text())["params"] == params
    assert record["result"]["steps"] == 3
    assert record["result"]["precision"] in ("fp32", "bf16")
    assert record["result"]["precision_reason"].startswith("auto: ")
    curve = (out / "loss_curve.csv").read_text().splitlines()
    assert curve[0] == "step,epoch,loss,learning_rate,grad_norm" and len(curve) == 4
    before, after = load_file(student / "model.safetensors"), load_file(out / "model.safetensors")
    frozen = [k for k in before if "word_embeddings" in k]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in before if "layer.1." in k)
    model = SentenceTransformer(str(out), local_files_only=True)
    assert model.encode(["ein Haus"]).shape == (1, 32)


def test_same_seed_gives_the_same_model(tmp_path, student, data):
    params = train_params(train_config(steps=2), "multiway")
    first = train_run(
        TrainJob(
            params=copy.deepcopy(params),
            dataset_path=data["multiway"],
            student_path=student,
            out_dir=tmp_path / "a",
        )
    )
    second = train_run(
        TrainJob(
            params=copy.deepcopy(params),
            dataset_path=data["multiway"],
            student_path=student,
            out_dir=tmp_path / "b",
        )
    )
    assert first["result"]["final_loss"] == second["result"]["final_loss"]


def test_packed_training_gives_the_padded_model(tmp_path, student, data, monkeypatch):
    import contextlib

    from mwalign.train import trainer

    params = train_params(train_config(steps=3), "multiway")
    params["train"]["precision"] = "fp32"

    def run(name: str) -> dict:
        return train_run(
            TrainJob(
                params=copy.deepcopy(params),
                dataset_path=data["multiway"],
                student_path=student,
                out_dir=tmp_path / name,
            )
        )["result"]

    packed = run("packed")

    @contextlib.contextmanager
    def padded(model, **kwargs):
        yield {"packed": False}

    monkeypatch.setattr(trainer, "packed_training", padded)
    reference = run("padded")
    assert packed["packed"] is True
    # 3 steps of 4 ids in 3 views: every real token counted once, padding skipped
    assert 0 < packed["packed_tokens"] < packed["padded_tokens"]
    assert packed["final_loss"] == pytest.approx(reference["final_loss"], abs=1e-5)
    weights = load_file(tmp_path / "packed" / "model.safetensors")
    for name, value in load_file(tmp_path / "padded" / "model.safetensors").items():
        torch.testing.assert_close(weights[name], value, rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch has no oneDNN")
def test_fp32_training_on_onednn_gives_the_blas_model(tmp_path, student, data, monkeypatch):
    from mwalign import cpu_kernels

    params = train_params(train_config(steps=2), "multiway")
    params["train"]["precision"] = "fp32"
    monkeypatch.setattr(cpu_kernels, "MIN_PROBE_SECONDS", 0.0)  # the tiny student is timed
    weights, records = {}, {}
    for kernels, timings in (("blas", (1.0, 2.0)), ("onednn", (1.0, 0.5))):
        seconds = dict(zip(cpu_kernels.KERNELS, timings, strict=True))

        def probe(*args, kernels, seconds=seconds, **kwargs):
            return seconds[kernels]

        monkeypatch.setattr(cpu_kernels, "_probe_seconds", probe)
        record = train_run(
            TrainJob(
                params=copy.deepcopy(params),
                dataset_path=data["multiway"],
                student_path=student,
                out_dir=tmp_path / kernels,
            )
        )
        records[kernels] = record["result"]
        weights[kernels] = load_file(tmp_path / kernels / "model.safetensors")
    assert records["blas"]["fp32_kernels"] == "blas"
    assert records["onednn"]["fp32_kernels"] == "onednn"
    assert records["onednn"]["fp32_kernels_probe_seconds"] == {"blas": 1.0, "onednn": 0.5}
    assert records["onednn"]["final_loss"] == pytest.approx(records["blas"]["final_loss"], abs=1e-5)
    assert weights["onednn"].keys() == weights["blas"].keys()
    for name, reference in weights["blas"].items():
        torch.testing.assert_close(weights["onednn"][name], reference, rtol=1e-4, atol=1e-5)


def test_nan_loss_stops_keeps_checkpoint_and_rerun_resumes(tmp_path, student, data, monkeypatch):
    from mwalign.train.callbacks import NonFiniteLossError
    from mwalign.train.losses import MultiwayInfoNCE

    params = train_params(train_config(steps=4, checkpoint_every=2), "multiway")
    out = tmp_path / "models" / "multiway"
    original = MultiwayInfoNCE.compute_loss_from_views
    calls = []

    def nan_at_third_step(self, views, labels=None):
        calls.append(1)
        value = original(self, views, labels)
        return value * float("nan") if len(calls) == 3 else value

    monkeypatch.setattr(MultiwayInfoNCE, "compute_loss_from_views", nan_at_third_step)
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 3.*checkpoint-2"):
        train_run(
            TrainJob(
                params=params, dataset_path=data["multiway"], student_path=student, out_dir=out
            )
        )
    assert not out.exists()
    work = out.parent / ".multiway.work"
    assert (work / "checkpoint-2").is_dir()

    monkeypatch.setattr(MultiwayInfoNCE, "compute_loss_from_views", original)
    record = train_run(
        TrainJob(params=params, dataset_path=data["multiway"], student_path=student, out_dir=out)
    )
    assert record["result"]["resumed_from"].endswith("checkpoint-2")
    assert record["result"]["steps"] == 4
    curve = (out / "loss_curve.csv").read_text().splitlines()[1:]
    assert [int(line.split(",")[0]) for line in curve] == [1, 2, 3, 4]
    assert not work.exists()


def test_changed_settings_discard_old_checkpoints(tmp_path, student, data):
    from mwalign.train.trainer import prepare_work_dir

    work = tmp_path / ".run.work"
    params = train_params(train_config(), "multiway")
    prepare_work_dir(work, params)
    (work / "checkpoint-5").mkdir()
    prepare_work_dir(work, params)
    assert (work / "checkpoint-5").exists()  # same settings: kept for resuming
    params["train"]["learning_rate"] = 0.5
    prepare_work_dir(work, params)
    assert not (work / "checkpoint-5").exists()


def test_options_freeze_layers_checkpointing_accumulation(tmp_path, student, data):
    runs = train_raw()["runs"]
    runs["enx"]["match"] = "sentences"
    config = train_config(
        runs=runs, freeze_layers=1, gradient_checkpointing=True, gradient_accumulation=2
    )
    params = train_params(config, "enx")
    out = tmp_path / "model"
    record = train_run(
        TrainJob(params=params, dataset_path=data["enx"], student_path=student, out_dir=out)
    )
    assert record["result"]["rows_per_step"] == 4 * (len(LANGUAGES) + 1) // 2
    seen = record["seen"]  # 3 optimiser steps of 2 micro-batches of 6 rows
    assert (seen["steps"], seen["rows"], seen["pairs"]) == (3, 36, 36)
    assert seen["pairs"] == record["budget"]["pair_budget"]
    before, after = load_file(student / "model.safetensors"), load_file(out / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before if "layer.0." in k)
    assert any(not torch.equal(before[k], after[k]) for k in before if "layer.1." in k)
    assert all(torch.equal(before[k], after[k]) for k in before if "embeddings" in k)


def test_teacher_file_without_embeddings_names_the_file(tmp_path):
    path = tmp_path / "teacher.parquet"
    pq.write_table(pa.table({"id": [0], "lang": ["en"], "vector": [[0.1, 0.2]]}), path)
    with pytest.raises(StageInputError, match=r"teacher.parquet: wrong schema: .*'embedding'"):
        teacher_labels(path, [0], [["en"]])


def test_saved_model_applies_its_prefix_like_the_evaluation(tmp_path, student, data):
    from mwalign.evaluate.run import build_encoder

    config = train_config()
    params = train_params(config, "multiway")
    out = tmp_path / "models" / "multiway"
    train_run(
        TrainJob(params=params, dataset_path=data["multiway"], student_path=student, out_dir=out)
    )
    texts = ["ein Haus am See", "the house by the lake", "一座湖边的房子"]
    plain = SentenceTransformer(str(out), local_files_only=True)
    assert plain.max_seq_length == params["student"]["max_seq_length"] == 32
    folder_embeddings = plain.encode(texts)
    eval_params = {**evaluate_params(config, "multiway", "BibleBitextMining"), "precision": "fp32"}
    encoder = build_encoder(out, eval_params, None)
    assert encoder.prompt == "query: "
    np.testing.assert_allclose(encoder.embed(texts), folder_embeddings, atol=1e-6)
    # the prefix is applied once: by hand, with the model's prompt switched off, it matches
    by_hand = plain.encode([f"query: {text}" for text in texts], prompt="")
    np.testing.assert_allclose(by_hand, folder_embeddings, atol=1e-6)
    assert np.abs(plain.encode(texts, prompt="") - folder_embeddings).max() > 1e-3


def test_model_card_names_data_languages_objective_and_steps(tmp_path, student, data):
    params = train_params(train_config(), "enx")
    out = tmp_path / "models" / "enx"
    train_run(TrainJob(params=params, dataset_path=data["enx"], student_path=student, out_dir=out))
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "sentence-transformers" in card  # the library's card
    for expected in (
        "English-centric En-X",
        "InfoNCE",
        "**Steps:** 3 of",
        f"en (source), {', '.join(params['languages'])}",
        "results/eval/enx/",
        "results/report/summary.md",
        "`'query: '`",
    ):
        assert expected in card, expected


def test_trackers_pass_through_and_never_change_the_job_params(tmp_path, monkeypatch):
    import importlib.util

    config = train_config()
    params = train_params(config, "enx")
    assert training_arguments(params, tmp_path, list(range(36)), FP32).report_to in ([], ["none"])
    args = training_arguments(params, tmp_path, list(range(36)), FP32, report_to=["mlflow"])
    assert args.report_to == ["mlflow"]
    raw = train_raw()
    raw["train"]["report_to"] = ["mlflow"]
    real, installed = importlib.util.find_spec, {"mlflow": True}

    def find_spec(name, *args):
        if name == "mlflow":
            return object() if installed["mlflow"] else None
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert train_params(validate_config(copy.deepcopy(raw)), "enx") == params  # never retrains
    installed["mlflow"] = False
    with pytest.raises(ValueError, match="report_to lists 'mlflow'.*not installed"):
        validate_config(raw)


def test_loss_curve_is_csv_and_tensorboard_only_when_installed(tmp_path, monkeypatch):
    import importlib.util

    from mwalign.train import callbacks

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorboard" else real(name, *a),
    )
    assert callbacks.tensorboard_callbacks(tmp_path / "tb") == []
    assert not (tmp_path / "tb").exists()


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("tensorboard") is None,
    reason="needs the tensorboard package (the logging extra)",
)
def test_training_writes_tensorboard_events(tmp_path, student, data):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    params = train_params(train_config(), "enx")
    out, log_dir = tmp_path / "models" / "enx", tmp_path / "logs" / "enx.tensorboard"
    train_run(
        TrainJob(
            params=params,
            dataset_path=data["enx"],
            student_path=student,
            out_dir=out,
            log_dir=log_dir,
        )
    )
    events = EventAccumulator(str(log_dir))
    events.Reload()
    losses = [event.value for event in events.Scalars("train/loss")]
    curve = (out / "loss_curve.csv").read_text().splitlines()[1:]
    assert len(losses) == len(curve) == 3
    assert losses == pytest.approx([float(row.split(",")[2]) for row in curve], rel=1e-5)
