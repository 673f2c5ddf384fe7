"""What a train job reads: En-X targets drawn per seed, a subset of the train rows, the
teacher labels each label strategy needs, and the objective's temperatures in the record."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pytest
import torch
from mwalign import files
from mwalign.assemble import draw_enx_languages
from mwalign.config import validate_config
from mwalign.train.data import build_dataset, read_train_rows
from mwalign.train.job import TrainJob
from mwalign.train.params import dataset_name, train_params
from mwalign.train.trainer import train_run
from test_train_fixtures import LANGUAGES, train_raw


def enx_config(**run: object) -> dict:
    config = train_raw()
    config["runs"]["enx"].update(seeds=[0, 1], **run)
    return validate_config(config)


def train_table(path):
    table = files.read_table(path)
    return table.filter(pc.equal(table["split"], "train")).to_pylist()


def test_enx_targets_default_to_the_assembled_table(data):
    params = train_params(enx_config(), "enx-seed0")
    assert params["train"]["enx_targets"] == "dataset" and dataset_name(params) == "enx"
    rows = read_train_rows(params=params, dataset_path=data["enx"])
    table = train_table(data["enx"])
    assert rows["lang"] == [row["lang"] for row in table]
    assert rows["text"] == [row["text"] for row in table]
    other = read_train_rows(
        params=train_params(enx_config(), "enx-seed1"), dataset_path=data["enx"]
    )
    assert other["lang"] == rows["lang"]  # the seeds share the draw


def test_enx_targets_per_seed_are_drawn_from_the_multiway_table(data):
    config = enx_config(enx_targets="per_seed")
    first, second = train_params(config, "enx-seed0"), train_params(config, "enx-seed1")
    assert dataset_name(first) == "multiway"
    rows = read_train_rows(params=first, dataset_path=data["multiway"])
    multiway = {row["id"]: row for row in train_table(data["multiway"])}
    assert list(rows["id"]) == list(multiway)
    expected = draw_enx_languages(list(multiway), LANGUAGES, first["seed"]).tolist()
    assert rows["lang"] == expected and set(expected) == set(LANGUAGES)
    assert rows["text"] == [
        multiway[i][lang] for i, lang in zip(rows["id"], rows["lang"], strict=True)
    ]
    assert rows["en"] == [multiway[i]["en"] for i in rows["id"]]
    again = read_train_rows(params=first, dataset_path=data["multiway"])
    other = read_train_rows(params=second, dataset_path=data["multiway"])
    assert again["lang"] == rows["lang"] and other["lang"] != rows["lang"]
    multiway_run = train_params(enx_config(enx_targets="per_seed"), "multiway")
    assert dataset_name(multiway_run) == "multiway"  # multi-way runs ignore the option


def test_train_rows_keep_the_same_nested_subset_for_every_run_and_seed(data):
    def ids(run: str, count: int | None, job: str | None = None) -> list[int]:
        config = train_raw(train_rows=count)
        config["runs"][run]["seeds"] = [0, 1]
        params = train_params(validate_config(config), job or f"{run}-seed0")
        return read_train_rows(params=params, dataset_path=data[params["data"]])["id"]

    every = ids("multiway", None)
    ten = ids("multiway", 10)
    assert len(every) == 36 and len(ten) == 10 and set(ten) < set(every)
    assert ten == sorted(ten)  # file order kept
    assert ids("enx", 10) == ten and ids("multiway", 10, "multiway-seed1") == ten
    assert set(ids("multiway", 5)) < set(ten)
    with pytest.raises(ValueError, match="train_rows = 37.*36 rows"):
        ids("multiway", 37)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["train"].update(train_rows=3), r"train_rows = 3: fewer than the 4 rows"),
        (
            lambda c: c["train"].update(train_rows=1.5),
            r"train_rows: 1.5 is not of type 'integer', 'null'",
        ),
        (
            lambda c: c["train"].update(enx_targets="always"),
            r"enx_targets: 'always' is not one of \['dataset', 'per_seed'\]",
        ),
        (
            lambda c: (
                c["teacher"].update(languages=["en"]),
                c["runs"]["multiway"].update(objective="soft", label_strategy="pair_priority"),
            ),
            r"'pair_priority' needs teacher embeddings.*lacks \['de', 'es'\]",
        ),
    ],
)
def test_bad_data_options_are_named(change, message):
    config = train_raw()
    change(config)
    with pytest.raises(ValueError, match=message):
        validate_config(config)


def test_pair_priority_reads_every_view_on_multiway_and_english_on_enx(data):
    raw = train_raw(label_strategy="pair_priority")
    raw["teacher"]["languages"] = ["en"]
    raw["runs"]["enx"]["objective"] = "soft"
    config = validate_config(raw)  # English suffices on En-X data
    enx, _ = build_dataset(train_params(config, "enx"), data["enx"], data["teacher"])
    assert torch.tensor(enx["label"]).shape == (36, 1, 16)
    config["runs"]["multiway"]["objective"] = "soft"
    multiway, _ = build_dataset(train_params(config, "multiway"), data["multiway"], data["teacher"])
    assert torch.tensor(multiway["label"]).shape == (36, 1 + len(LANGUAGES), 16)


def test_soft_run_record_states_both_temperatures(tmp_path, student, data):
    raw = train_raw(temperature=0.05, train_rows=20)
    raw["runs"]["enx"].update(objective="soft", enx_targets="per_seed")
    params = train_params(validate_config(raw), "enx")
    out = tmp_path / "model"
    train_run(
        TrainJob(
            params=params,
            dataset_path=data[dataset_name(params)],
            student_path=student,
            out_dir=out,
            teacher_path=data["teacher"],
        )
    )
    record = json.loads((out / "mwalign_run.json").read_text())
    loss = record["loss"]
    assert loss["name"] == "SoftContrastive"
    assert (loss["temperature"], loss["teacher_temperature"]) == (0.1, 0.1)
    assert record["params"]["train"]["soft_temperature"] == 0.1
    assert record["result"]["train_rows"] == 20
    # the En-X run with per-seed targets read (and hashed) the multi-way table
    assert record["provenance"]["inputs"]["dataset"] == files.file_sha256(data["multiway"])
