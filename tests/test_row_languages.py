"""k-language multi-way rows (train.row_languages, row_english), matching En-X runs on ids,
sentences or pairs (train.match), and the `seen` record of what a run trained on."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from mwalign.assemble import draw_row_languages, row_language_card, row_language_counts
from mwalign.config import validate_config
from mwalign.errors import ConfigError
from mwalign.plan import job_table
from mwalign.provenance import derive_seed
from mwalign.train.data import UniqueIdBatchSampler, build_dataset, read_train_rows
from mwalign.train.job import TrainJob
from mwalign.train.losses import MultiwayInfoNCE, build_loss
from mwalign.train.losses.views import slot_views
from mwalign.train.params import derived_budget, train_params
from mwalign.train.record import sampler_batches, seen_record
from mwalign.train.trainer import train_run
from test_train_fixtures import LANGUAGES, train_config, train_raw

IDS = np.arange(400)

# ------------------------------------------------------------------ drawing the rows


@pytest.mark.parametrize("english", ["always", "any"])
@pytest.mark.parametrize("k", [2, 4, 6])
def test_rows_hold_k_distinct_languages_seeded_and_reproducible(k, english):
    rows = draw_row_languages(IDS, 7, k, english, seed=5)
    assert rows.shape == (len(IDS), k)
    assert all(len(set(row)) == k for row in rows.tolist())  # k distinct languages
    assert ((rows >= 0) & (rows < 7)).all()
    assert (np.diff(rows, axis=1) > 0).all()  # sorted: English first where present
    assert np.array_equal(rows, draw_row_languages(IDS, 7, k, english, seed=5))
    assert not np.array_equal(rows, draw_row_languages(IDS, 7, k, english, seed=6))
    # per id: a row's draw does not depend on which other rows are drawn
    assert np.array_equal(rows[10:20], draw_row_languages(IDS[10:20], 7, k, english, seed=5))


def test_english_always_or_any():
    always = draw_row_languages(IDS, 7, 4, "always", seed=5)
    assert (always[:, 0] == 0).all()  # English in every row
    counts = np.bincount(always[:, 1:].ravel(), minlength=7)[1:]
    assert counts.sum() == 3 * len(IDS) and counts.min() > 0.7 * counts.mean()  # ~uniform
    anyrows = draw_row_languages(IDS, 7, 4, "any", seed=5)
    with_english = (anyrows == 0).any(axis=1).mean()
    assert 0.45 < with_english < 0.70  # 4/7 of the rows hold English
    counts = np.bincount(anyrows.ravel(), minlength=7)
    assert counts.min() > 0.7 * counts.mean()


def test_smaller_k_keeps_a_subset_of_a_larger_k():
    for english in ("always", "any"):
        three = draw_row_languages(IDS, 7, 3, english, seed=1)
        five = draw_row_languages(IDS, 7, 5, english, seed=1)
        assert all(set(a) <= set(b) for a, b in zip(three.tolist(), five.tolist(), strict=True))


@pytest.mark.parametrize("k", [1, 8])
def test_bad_k_for_the_draw(k):
    with pytest.raises(ValueError, match=rf"row_languages = {k}; allowed: 2 to 7"):
        draw_row_languages(IDS, 7, k, "always", seed=1)


def test_card_counts_languages_and_pairs():
    rows = np.array([[0, 1, 2], [0, 2, 3], [1, 2, 3]])
    counts = row_language_counts(rows, ["en", "de", "es", "zh"])
    assert counts["languages"] == {"en": 2, "de": 2, "es": 3, "zh": 2}
    assert counts["language_pairs"] == {
        "de-en": 1, "de-es": 2, "de-zh": 1, "en-es": 2, "en-zh": 1, "es-zh": 2,
    }  # fmt: skip
    card = row_language_card(IDS, ["de", "es", "zh"], seed=13)
    assert card["rows"] == len(IDS) and sorted(card["always"]) == ["2", "3"]
    three = card["always"]["3"]
    assert three["languages"]["en"] == len(IDS)  # English in every row
    assert sum(three["languages"].values()) == 3 * len(IDS)
    assert sum(three["language_pairs"].values()) == 3 * len(IDS)  # C(3, 2) per row
    assert sum(card["any"]["2"]["languages"].values()) == 2 * len(IDS)


# ------------------------------------------------------------------ the loss


def hand_loss(emb: torch.Tensor, present: torch.Tensor, tau: float) -> torch.Tensor:
    """Hand transcription: mean over every row i and ordered pair (a, b) of languages it
    holds of -log exp(s(e_ia, e_ib)/tau) / sum_{j holds b} exp(s(e_ia, e_jb)/tau);
    ``emb`` (V, B, d), ``present`` (V, B)."""
    terms = []
    V, B = present.shape
    for i in range(B):
        for a in range(V):
            for b in range(V):
                if a == b or not (present[a, i] and present[b, i]):
                    continue
                anchor = F.normalize(emb[a, i], dim=0)
                scores = {
                    j: float(anchor @ F.normalize(emb[b, j], dim=0)) / tau
                    for j in range(B)
                    if present[b, j]
                }
                denominator = sum(math.exp(s) for s in scores.values())
                terms.append(-(scores[i] - math.log(denominator)))
    return torch.tensor(sum(terms) / len(terms))


def test_masked_loss_equals_the_hand_transcription():
    torch.manual_seed(0)
    V, B, d, tau = 4, 5, 8, 0.3
    emb = torch.randn(V, B, d)
    languages = torch.tensor([[0, 1], [0, 2], [1, 3], [0, 3], [2, 3]])  # (B, k = 2)
    present = torch.zeros(V, B, dtype=torch.bool)
    for i, row in enumerate(languages.tolist()):
        present[row, i] = True
    # the slot layout: slot j of row i holds language languages[i, j]
    slots = [emb[languages[:, j], torch.arange(B)] for j in range(2)]
    views, got_present = slot_views(slots, languages, V)
    assert torch.equal(got_present, present)
    for lang in range(V):
        assert torch.equal(views[lang][present[lang]], emb[lang][present[lang]])
    loss = MultiwayInfoNCE(None, temperature=tau, n_languages=V)
    value = loss.compute_masked_loss(views, present)
    assert torch.allclose(value, hand_loss(emb, present, tau), atol=1e-5)


def test_masked_loss_with_every_language_is_the_full_row_loss():
    torch.manual_seed(1)
    views = [torch.randn(6, 8) for _ in range(3)]
    loss = MultiwayInfoNCE(None, temperature=0.1)
    full = loss.compute_loss_from_views(views)
    masked = loss.compute_masked_loss(views, torch.ones(3, 6, dtype=torch.bool))
    assert torch.allclose(full, masked, atol=1e-6)
    english = MultiwayInfoNCE(None, temperature=0.1, pairs="english")
    assert torch.allclose(
        english.compute_loss_from_views(views),
        english.compute_masked_loss(views, torch.ones(3, 6, dtype=torch.bool)),
        atol=1e-6,
    )


def test_missing_language_is_no_negative():
    """Changing the embedding a row lacks (its placeholder) changes nothing."""
    torch.manual_seed(2)
    views = [torch.randn(4, 8, requires_grad=True) for _ in range(3)]
    present = torch.tensor([[1, 1, 1, 0], [1, 0, 1, 1], [0, 1, 1, 1]], dtype=torch.bool)
    loss = MultiwayInfoNCE(None, temperature=0.1)
    value = loss.compute_masked_loss(views, present)
    value.backward()
    for lang, view in enumerate(views):
        missing = ~present[lang]
        assert torch.count_nonzero(view.grad[missing]) == 0
        assert torch.count_nonzero(view.grad[~missing]) > 0
    moved = [v.detach().clone() for v in views]
    moved[0][3] += 10.0  # row 3 lacks language 0
    assert torch.allclose(loss.compute_masked_loss(moved, present), value.detach())


# ------------------------------------------------------------------ the budget


def budget_config(**train: object) -> dict:
    return train_config(runs=train_raw()["runs"], **train)


@pytest.mark.parametrize("k", [None, 2])
def test_derived_budget(k):
    config = budget_config(steps=10, batch_ids=4, row_languages=k)
    big_k = 3 if k is None else k  # en + de + es
    pairs = big_k * (big_k - 1) // 2
    multiway = derived_budget(train_params(config, "multiway"))
    assert multiway == {
        "steps": 10, "batch_rows": 4, "train_rows": None, "pairs_per_row": pairs,
        "pairs_per_step": 4 * pairs, "pair_budget": 40 * pairs,
    }  # fmt: skip
    for match, steps, rows in [
        ("ids", 10, 4), ("sentences", 10, 4 * big_k // 2), ("pairs", 10 * pairs, 4)
    ]:  # fmt: skip
        config["runs"]["enx"]["match"] = match
        enx = derived_budget(train_params(config, "enx"))
        assert (enx["steps"], enx["batch_rows"], enx["pairs_per_row"]) == (steps, rows, 1)
        assert enx["pair_budget"] == steps * rows


@pytest.mark.parametrize(("k", "batch_ids", "accumulation"), [(4, 32, 1), (3, 7, 2), (7, 5, 1)])
def test_pair_matched_budgets_are_equal_within_one_batch(k, batch_ids, accumulation):
    raw = train_raw(steps=9, batch_ids=batch_ids, gradient_accumulation=accumulation)
    raw["languages"] = ["de", "es", "zh", "ru", "ar", "hi"]
    raw["teacher"]["languages"] = ["en"]
    raw["train"]["row_languages"] = k
    raw["runs"]["enx"]["match"] = "pairs"
    config = validate_config(raw)
    multiway = derived_budget(train_params(config, "multiway"))
    enx = derived_budget(train_params(config, "enx"))
    assert abs(multiway["pair_budget"] - enx["pair_budget"]) <= enx["pairs_per_step"]
    assert enx["steps"] == 9 * k * (k - 1) // 2
    rows = {row["job"]: row for row in job_table(config) if row["stage"] == "train"}
    assert rows["enx"]["steps"] == enx["steps"] and rows["enx"]["match"] == "pairs"
    assert rows["multiway"]["row_languages"] == k
    config["runs"]["multiway"]["pairs"] = "english"  # only the k - 1 pairs with English
    english = derived_budget(train_params(config, "multiway"))
    assert english["pairs_per_row"] == k - 1


def test_pair_matched_enx_run_reads_c_k_2_times_the_rows():
    """The paper's N/6 four-language rows against N bilingual rows: an En-X run matched on
    pairs reads train_rows * C(k, 2) rows (the other matchings the configured rows), and
    read_train_rows takes the whole split where that is more than it has."""
    config = budget_config(steps=10, batch_ids=4, row_languages=2, train_rows=6)
    assert derived_budget(train_params(config, "multiway"))["train_rows"] == 6
    for match, rows in [("ids", 6), ("sentences", 6)]:
        config["runs"]["enx"]["match"] = match
        assert derived_budget(train_params(config, "enx"))["train_rows"] == rows
    config = budget_config(steps=10, batch_ids=4, train_rows=6)  # k = 3: 3 pairs per row
    config["runs"]["enx"]["match"] = "pairs"
    assert derived_budget(train_params(config, "enx"))["train_rows"] == 18


def test_pair_matched_rows_are_capped_by_the_split(data):
    config = budget_config(steps=1, batch_ids=4, train_rows=20)  # asks for 60 of 36 rows
    config["runs"]["enx"]["match"] = "pairs"
    rows = read_train_rows(params=train_params(config, "enx"), dataset_path=data["enx"])
    assert len(rows["id"]) == 36
    config["runs"]["enx"]["match"] = "ids"  # 20 rows, as configured
    rows = read_train_rows(params=train_params(config, "enx"), dataset_path=data["enx"])
    assert len(rows["id"]) == 20


# ------------------------------------------------------------------ config errors


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["train"].update(row_languages=4), r"row_languages = 4, .*allowed: 2 to 3"),
        (lambda c: c["train"].update(row_languages=1), "row_languages: 1 is less than the minimum"),
        (lambda c: c["train"].update(row_english="never"), r"'never' is not one of \['always'"),
        (lambda c: c["runs"]["enx"].update(match="rows"), r"'rows' is not one of \['ids'"),
        (
            lambda c: c["train"].update(enx_equal_sentences=True),
            r"config.train.enx_equal_sentences = True: this setting was removed; "
            "use match: sentences",
        ),
        (
            lambda c: c["runs"]["enx"].update(enx_equal_sentences=False),
            r"config.runs.enx.enx_equal_sentences = False: .*use match: sentences",
        ),
        (
            lambda c: c["runs"]["multiway"].update(objective="soft", row_languages=2),
            r"runs.multiway: row_languages = 2 .*'infonce' only, not 'soft'",
        ),
        (
            lambda c: c["runs"]["multiway"].update(objective="soft", teacher_temperature=0.05),
            r"soft_temperature = 0.1 but teacher_temperature = 0.05: two temperatures.*"
            "separate_temperatures: true",
        ),
        (
            lambda c: (
                c["train"].update(soft_temperature=0.2) or c["runs"]["enx"].update(objective="soft")
            ),
            r"runs.enx: soft_temperature = 0.2 but teacher_temperature = 0.1",
        ),
    ],
)
def test_bad_row_and_match_settings_are_named(change, message):
    config = train_raw()
    change(config)
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_two_temperatures_when_meant_and_teacher_objectives_on_full_rows():
    runs = train_raw()["runs"]
    runs["soft"] = {
        "student": "tiny", "data": "multiway", "objective": "soft",
        "teacher_temperature": 0.05, "separate_temperatures": True,
    }  # fmt: skip
    runs["mse"] = {"student": "tiny", "data": "multiway", "objective": "similarity_mse"}
    config = train_config(runs=runs, soft_temperature=0.2, row_languages=3)  # 3 = all: allowed
    soft = train_params(config, "soft")["train"]
    assert (soft["soft_temperature"], soft["teacher_temperature"]) == (0.2, 0.05)
    # similarity_mse reads one temperature only; En-X runs ignore row_languages
    runs["enx"]["row_languages"] = 2
    train_config(runs=runs, soft_temperature=0.2, teacher_temperature=0.2)


# ------------------------------------------------------------------ data and record


def test_k_language_dataset_holds_each_rows_languages(data):
    config = budget_config(row_languages=2, row_english="any")
    params = train_params(config, "multiway")
    dataset, ids = build_dataset(params, data["multiway"])
    assert dataset.column_names == ["slot_0", "slot_1", "label"]
    rows = read_train_rows(params=params, dataset_path=data["multiway"])
    names = ["en", *LANGUAGES]
    for i, sid in enumerate(ids):
        langs = dataset[i]["label"]
        assert len(set(langs)) == 2
        assert [dataset[i][f"slot_{j}"] for j in range(2)] == [rows[names[x]][i] for x in langs]
        assert sid == rows["id"][i]
    again, _ = build_dataset(train_params(config, "multiway"), data["multiway"])
    assert again["label"] == dataset["label"]  # the same rows for every run
    other = train_params(budget_config(row_languages=2, row_english="any", steps=7), "multiway")
    assert build_dataset(other, data["multiway"])[0]["label"] == dataset["label"]
    loss = build_loss(params, None, None)
    assert isinstance(loss, MultiwayInfoNCE) and loss.n_languages == 3
    # the draw the dataset card counts (mwalign.assemble.row_language_card)
    assert params["row_languages_seed"] == derive_seed(config["seed"], "row_languages")


def test_seen_record_counts_batches_rows_and_pairs():
    ids = [10, 11, 12, 10]
    langs = [["en", "de"], ["en", "de", "es"], ["es", "en"], ["de", "es"]]
    seen = seen_record([[0, 1], [2, 3], [1, 3]], ids=ids, row_languages=langs)
    assert seen == {
        "steps": 3,
        "rows": 6,
        "distinct_ids": 3,
        "distinct_sentences": 8,  # id 10: en, de, es; id 11: en, de, es; id 12: en, es
        "pairs": 1 + 3 + 1 + 1 + 3 + 1,
        "languages": {"de": 5, "en": 4, "es": 5},
        "language_pairs": {"de-en": 3, "de-es": 4, "en-es": 3},
    }
    english = seen_record([[0, 1], [2, 3]], ids=ids, row_languages=langs, english_pairs_only=True)
    assert english["language_pairs"] == {"de-en": 2, "en-es": 2}
    assert english["pairs"] == 4 and english["languages"] == {"de": 3, "en": 3, "es": 3}
    accumulated = seen_record([[0, 1], [2, 3]], ids=ids, row_languages=langs, batches_per_step=2)
    assert (accumulated["steps"], accumulated["rows"]) == (1, 4)


def test_sampler_batches_run_over_epochs():
    dataset = Dataset.from_dict({"en": [str(i) for i in range(10)]})
    sampler = UniqueIdBatchSampler(dataset, batch_size=4, seed=3, ids=list(range(10)))
    batches = list(sampler_batches(sampler, 5))  # 2 batches per epoch
    assert len(batches) == 5
    sampler.set_epoch(1)
    assert batches[2:4] == list(sampler)


@pytest.mark.parametrize("run", ["multiway", "enx"])
def test_trained_run_records_what_it_saw(tmp_path, student, data, run):
    runs = train_raw()["runs"]
    runs["enx"]["match"] = "pairs"
    config = train_config(runs=runs, steps=2, row_languages=2, row_english="always")
    params = train_params(config, run)
    out = tmp_path / run
    record = train_run(
        TrainJob(
            params=params, dataset_path=data[params["data"]], student_path=student, out_dir=out
        )
    )
    saved = json.loads((out / "mwalign_run.json").read_text())
    seen = saved["seen"]
    assert seen == record["seen"]
    assert saved["budget"] == derived_budget(params)
    # k = 2: one pair per row either way, so the pair-matched En-X run takes the same steps
    assert seen["steps"] == record["result"]["steps"] == 2
    assert seen["rows"] == 2 * 4 and seen["pairs"] == seen["rows"]
    assert seen["pairs"] == saved["budget"]["pair_budget"]
    assert seen["languages"]["en"] == seen["rows"]  # row_english: always
    assert sum(seen["languages"].values()) == 2 * seen["rows"]
    assert set(seen["language_pairs"]) <= {"-".join(sorted((a, "en"))) for a in LANGUAGES}
    if run == "multiway":
        assert record["loss"]["n_languages"] == 3
        assert record["result"]["views"] == 2  # two slots per row


def test_pair_matched_enx_run_trains_c_k_2_times_the_steps(tmp_path, student, data):
    runs = train_raw()["runs"]
    runs["enx"]["match"] = "pairs"
    config = train_config(runs=runs, steps=1)  # k = 3 languages: 3 pairs per multi-way row
    params = train_params(config, "enx")
    record = train_run(
        TrainJob(params=params, dataset_path=data["enx"], student_path=student, out_dir=tmp_path)
    )
    multiway = derived_budget(train_params(config, "multiway"))
    assert record["seen"]["steps"] == 3 and record["seen"]["pairs"] == 3 * 4
    assert record["seen"]["pairs"] == multiway["pair_budget"]
