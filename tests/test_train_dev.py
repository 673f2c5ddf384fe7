"""Training length and the dev split: epochs, dev evaluations, early stopping, the best
checkpoint, and that nothing of the evaluation (test) data reaches training."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from mwalign.errors import ConfigError
from mwalign.precision import Precision
from mwalign.train import dev
from mwalign.train.dev import DevBitextEvaluator, dev_evaluator, stop_record
from mwalign.train.job import TrainJob
from mwalign.train.params import train_params
from mwalign.train.trainer import train_run, training_arguments
from safetensors.torch import load_file
from test_train_fixtures import train_config, train_raw

FP32 = Precision("fp32", "fp32 asked")
# A weight that trains (embeddings are frozen by default): fingerprints a checkpoint.
PROBE = "encoder.layer.1.attention.self.query.weight"


def _train(tmp_path, student, data, name="out", run="multiway", **train):
    params = train_params(train_config(**train), run)
    job = TrainJob(
        params=params,
        dataset_path=data[params["data"]],
        student_path=student,
        out_dir=tmp_path / name,
    )
    return train_run(job), tmp_path / name


def _dev_curve(folder) -> list[dict]:
    with open(folder / "dev_curve.csv", newline="") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------- config


def test_defaults_keep_training_by_steps_without_dev():
    hyper = train_params(train_config(), "multiway")["train"]
    assert (hyper["epochs"], hyper["eval_every"], hyper["patience"]) == (None, 0, None)
    assert hyper["dev_metric"] == "accuracy" and hyper["steps"] == 3


def test_epochs_replace_steps_in_the_params():
    hyper = train_params(train_config(epochs=2), "multiway")["train"]
    assert hyper["epochs"] == 2 and hyper["steps"] is None  # steps unused: never reruns a job


@pytest.mark.parametrize(
    ("train", "runs", "message"),
    [
        ({}, {"multiway": {"steps": 5, "epochs": 2}}, r"steps = 5, but the run trains for epochs"),
        ({"epochs": 2}, {"multiway": {"steps": 5}}, r"multiway.steps = 5, .* set epochs: null"),
        ({"patience": 3}, {}, r"patience = 3 needs dev evaluations, but eval_every is 0"),
        ({"epochs": 0}, {}, r"epochs: 0 is less than the minimum of 1"),
        ({"dev_metric": "f1"}, {}, r"dev_metric: 'f1' is not one of \['accuracy', 'loss'\]"),
        ({"eval_every": "epoch"}, {}, r"eval_every = 'epoch' needs a run trained by epochs"),
    ],
)
def test_training_length_mistakes_are_config_errors(train, runs, message):
    raw = train_raw(**train)
    for name, settings in runs.items():
        raw["runs"][name].update(settings)
    from mwalign.config import validate_config

    with pytest.raises(ConfigError, match=message):
        validate_config(raw)


def test_a_run_may_train_by_steps_when_it_clears_the_shared_epochs():
    raw = train_raw(epochs=2)
    raw["runs"]["enx"].update(steps=5, epochs=None)
    from mwalign.config import validate_config

    config = validate_config(raw)
    assert train_params(config, "enx")["train"]["steps"] == 5
    assert train_params(config, "multiway")["train"]["steps"] is None


# ---------------------------------------------------------------- trainer arguments


def test_epochs_and_dev_become_the_trainers_arguments(tmp_path):
    params = train_params(train_config(epochs=3, eval_every=2, patience=4), "multiway")
    args = training_arguments(params, tmp_path, list(range(36)), FP32)
    # 36 rows, 4 per step: 9 steps an epoch, 27 in all; warmup 0.1 of them
    assert (args.max_steps, args.num_train_epochs, args.warmup_steps) == (-1, 3, 3)
    assert (args.eval_strategy, args.eval_steps) == ("steps", 2)
    assert (args.save_strategy, args.save_steps) == ("steps", 2)  # the best is on disk
    assert args.load_best_model_at_end and args.metric_for_best_model == "eval_dev_accuracy"
    assert args.greater_is_better and args.per_device_eval_batch_size == 4


def test_one_evaluation_and_checkpoint_per_epoch(tmp_path):
    """eval_every: epoch evaluates runs with different steps per epoch (matched on pairs)
    alike: at the end of each epoch, with a checkpoint there."""
    params = train_params(train_config(epochs=3, eval_every="epoch", patience=2), "multiway")
    args = training_arguments(params, tmp_path, list(range(36)), FP32)
    assert (args.eval_strategy, args.save_strategy) == ("epoch", "epoch")
    assert args.load_best_model_at_end


def test_dev_loss_is_lower_is_better(tmp_path):
    params = train_params(train_config(eval_every=2, dev_metric="loss"), "multiway")
    args = training_arguments(params, tmp_path, list(range(36)), FP32)
    assert args.metric_for_best_model == "eval_loss" and not args.greater_is_better


def test_without_eval_every_nothing_changes(tmp_path):
    params = train_params(train_config(checkpoint_every=5), "multiway")
    args = training_arguments(params, tmp_path, list(range(36)), FP32)
    assert args.eval_strategy == "no" and not args.load_best_model_at_end
    assert (args.max_steps, args.save_steps) == (3, 5)


# ---------------------------------------------------------------- dev bitext accuracy


class FixedEncoder:
    """Stands in for a SentenceTransformer: each text's vector from a table."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def encode(self, texts, **kwargs):
        rows = np.array([self.vectors[t] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_dev_accuracy_matches_a_hand_count():
    # English e0..e2; de d0..d2 with d1 nearest e2 (a miss); es s0, s2 (En-X-like rows).
    vectors = {
        "e0": [1, 0, 0], "e1": [0, 1, 0], "e2": [0, 0, 1],
        "d0": [0.9, 0.1, 0], "d1": [0, 0.4, 0.6], "d2": [0, 0.1, 0.9],
        "s0": [0.8, 0, 0.2], "s2": [0.1, 0.1, 0.8],
    }  # fmt: skip
    rows = {
        "id": [10, 11, 12],
        "en": ["e0", "e1", "e2"],
        "lang": ["de", "es", "de"],
        "text": ["d0", "s0", "d2"],
    }
    evaluator = DevBitextEvaluator(
        ["e0", "e1", "e2"], {"de": [(0, "d0"), (1, "d1"), (2, "d2")], "es": [(0, "s0"), (2, "s2")]}
    )
    metrics = evaluator(FixedEncoder(vectors))
    # by hand: de 2 of 3 right, es 2 of 2; the mean over languages, not over sentences
    assert metrics["dev_accuracy_de"] == pytest.approx(2 / 3)
    assert metrics["dev_accuracy_es"] == 1.0
    assert metrics["dev_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    # En-X rows: each row's target language from its `lang`, retrieving among all English
    enx = dev_evaluator(rows, ["en", "text"], prompt=None, batch_size=8)
    assert enx.targets == {"de": [(0, "d0"), (2, "d2")], "es": [(1, "s0")]}
    assert enx(FixedEncoder(vectors))["dev_accuracy_es"] == 0.0  # s0 is nearest e0


# ---------------------------------------------------------------- runs


def test_training_by_epochs_stops_after_the_last(tmp_path, student, data):
    record, out = _train(tmp_path, student, data, epochs=1)
    stopped = record["result"]["stopped"]
    assert stopped["reason"] == "epochs" and stopped["step"] == 9  # 36 train rows / 4
    assert stopped["model"] == "last" and not (out / "dev_curve.csv").exists()


SCRIPT = {2: 0.1, 4: 0.5, 6: 0.3, 8: 0.4, 10: 0.95, 12: 0.2}


@pytest.fixture
def scripted_dev(monkeypatch):
    """Dev accuracy follows SCRIPT by step; the probe weight of each evaluated model kept."""
    seen: dict[int, torch.Tensor] = {}

    def scripted(self, model, output_path=None, epoch=-1, steps=-1):
        weights = dict(model[0].auto_model.named_parameters())
        seen[steps] = weights[PROBE].detach().cpu().clone()
        return {"dev_accuracy": SCRIPT[steps]}

    monkeypatch.setattr(DevBitextEvaluator, "__call__", scripted)
    return seen


def test_a_scripted_dev_curve_stops_the_run_and_the_best_checkpoint_is_saved(
    tmp_path, student, data, scripted_dev
):
    record, out = _train(tmp_path, student, data, steps=12, eval_every=2, patience=2)
    stopped = record["result"]["stopped"]
    # best 0.5 at step 4; steps 6 and 8 are no better: patience 2 is spent at step 8
    assert stopped["reason"] == "patience" and stopped["step"] == 8
    assert (stopped["best_step"], stopped["best_metric"], stopped["model"]) == (4, 0.5, "best")
    assert stopped["evaluations"] == 4
    saved = load_file(out / "model.safetensors")[PROBE]
    assert torch.equal(saved, scripted_dev[4])
    assert not torch.equal(saved, scripted_dev[8])
    assert [float(row["dev_accuracy"]) for row in _dev_curve(out)] == [0.1, 0.5, 0.3, 0.4]
    on_disk = json.loads((out / "mwalign_run.json").read_text())["result"]["stopped"]
    assert on_disk == json.loads(json.dumps(stopped))
    card = (out / "README.md").read_text()
    assert "stopped at step 8" in card and "best checkpoint on dev, step 4" in card


def test_without_patience_the_run_ends_on_its_steps_with_the_best_checkpoint(
    tmp_path, student, data, scripted_dev
):
    record, out = _train(tmp_path, student, data, steps=12, eval_every=2)
    stopped = record["result"]["stopped"]
    assert (stopped["reason"], stopped["step"], stopped["best_step"]) == ("steps", 12, 10)
    assert torch.equal(load_file(out / "model.safetensors")[PROBE], scripted_dev[10])


def test_evaluation_data_replaced_by_garbage_changes_nothing(tmp_path, student, data, monkeypatch):
    """The run's real dev accuracy drives the stop; the Bible and mteb data the evaluation
    stage reads are replaced by garbage (and reading them fails): same stop, same curve."""
    first, out = _train(tmp_path, student, data, "normal", steps=10, eval_every=1, patience=2)

    import mwalign.bible

    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "bible.db").write_bytes(np.random.default_rng(0).bytes(4096))

    def no_test_data():
        raise AssertionError("training read the evaluation data")

    monkeypatch.setattr(mwalign.bible, "bible_db_path", no_test_data)
    monkeypatch.setenv("MTEB_CACHE", str(garbage))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(garbage))
    second, other = _train(tmp_path, student, data, "garbage", steps=10, eval_every=1, patience=2)
    assert second["result"]["stopped"] == first["result"]["stopped"]
    assert _dev_curve(other) == _dev_curve(out)
    assert first["result"]["stopped"]["evaluations"] >= 3  # the dev metric was measured


def test_stop_record_without_dev_names_the_last_model():
    class State:
        global_step, epoch, max_steps, log_history = 3, 0.3, 3, []
        best_model_checkpoint, best_metric = None, None

    params = train_params(train_config(), "multiway")
    record = stop_record(params, State(), dev.dev_callbacks(params))
    assert record == {
        "reason": "steps", "step": 3, "epoch": 0.3, "max_steps": 3, "patience": None,
        "model": "last",
    }  # fmt: skip


def test_dev_batches_take_every_dev_row_when_there_are_fewer_than_a_step():
    from datasets import Dataset
    from mwalign.train.data import UniqueIdBatchSamplers

    train = Dataset.from_dict({"en": [f"t{i}" for i in range(12)]})
    dev_rows = Dataset.from_dict({"en": ["d0", "d1", "d2"]})
    samplers = UniqueIdBatchSamplers((train, list(range(12))), (dev_rows, [20, 21, 22]))
    assert [len(b) for b in samplers(train, batch_size=4, drop_last=True)] == [4, 4, 4]
    assert [sorted(b) for b in samplers(dev_rows, batch_size=4, drop_last=True)] == [[0, 1, 2]]
    with pytest.raises(ValueError, match="not the train or dev split"):
        samplers(Dataset.from_dict({"en": ["x"]}), batch_size=1)


def test_the_cost_estimate_counts_every_epoch():
    from mwalign.cost.work import train_work

    params = train_params(train_config(epochs=2, batch_ids=4), "multiway")
    assert train_work(params, train_rows=36).steps == 2 * 9
    params["train"]["train_rows"] = 20  # a run's own subset of the rows wins
    assert train_work(params, train_rows=36).steps == 2 * 5
