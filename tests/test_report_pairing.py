"""Which runs the report compares: equal resolved settings but for the data and a declared
matching; what each side saw; the paper's gains only beside the paper's protocol."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from mwalign import cli
from mwalign.config import validate_config
from mwalign.report.budget import planned_text
from mwalign.report.pairing import (
    MAY_DIFFER,
    NotCompared,
    Pairing,
    config_comparisons,
    flat_settings,
    matching,
    plan_comparisons,
    setting_differences,
)
from mwalign.train.params import derived_budget
from snakemake.utils import update_config
from test_report import (
    SETTINGS,
    bitext_evaluation,
    resolved,
    run_meta,
    write_results,
)

ROOT = Path(__file__).resolve().parents[1]


def _set(params: dict, dotted: str, value) -> dict:
    """A copy of ``params`` with the flattened key ``dotted`` set to ``value``."""
    out = copy.deepcopy(params)
    *parents, key = dotted.split(".")
    node = out
    for parent in parents:
        node = node[parent]
    node[key] = value
    return out


def test_equal_settings_are_comparable_and_the_data_may_differ():
    assert setting_differences(resolved("multiway"), resolved("enx")) == []


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("train.steps", 1000, "train.steps (1000 vs 30)"),
        ("train.pairs", "english", "train.pairs (english vs all)"),
        ("train.learning_rate", 1e-4, "train.learning_rate (0.0001 vs 5e-05)"),
        ("student.model", "other/model", "student.model (other/model vs intfloat/"),
        ("languages", ["de"], "languages (de vs de zh)"),
        ("objective", "soft", "objective (soft vs infonce)"),
    ],
)
def test_any_other_setting_that_differs_is_named(key, value, expected):
    (difference,) = setting_differences(_set(resolved("multiway"), key, value), resolved("enx"))
    assert difference.startswith(expected)


@pytest.mark.parametrize("key", ["train.new_key", "student.new_key"])
def test_a_setting_only_one_side_has_differs(key):
    """Keys this version does not know (or that one side's record lacks) are compared."""
    multiway = _set(resolved("multiway"), key, 4)
    assert setting_differences(multiway, resolved("enx")) == [f"{key} (4 vs absent)"]
    both = _set(resolved("enx"), key, 4)
    assert setting_differences(multiway, both) == []
    assert setting_differences(multiway, _set(both, key, None)) == [f"{key} (4 vs null)"]


def test_row_languages_and_row_english_must_be_equal():
    a = resolved("multiway", row_languages=4, row_english="always", match="ids")
    b = resolved("enx", row_languages=4, row_english="any", match="pairs")
    assert setting_differences(a, b) == ["train.row_english (always vs any)"]


@pytest.mark.parametrize(
    "key",
    ["train.enx_targets", "train.checkpoint_every", "train.match"],
)
def test_what_an_enx_run_declares_may_differ(key):
    assert key in MAY_DIFFER
    assert setting_differences(resolved("multiway"), _set(resolved("enx"), key, "other")) == []


def test_label_strategies_that_train_an_enx_run_alike_match():
    multiway = resolved("multiway", label_strategy="pair_priority")
    assert setting_differences(multiway, resolved("enx", label_strategy="priority")) == []
    assert setting_differences(multiway, resolved("enx", label_strategy="average")) == [
        "train.label_strategy (pair_priority vs average)"
    ]
    # on multi-way data the two differ
    assert setting_differences(resolved("multiway"), multiway) == [
        "train.label_strategy (priority vs pair_priority)"
    ]


def test_job_keys_are_not_settings():
    params = {**resolved("multiway"), "job": "m-seed1", "run": "m", "replicate": 1, "seed": 9}
    assert set(flat_settings(params)) == set(flat_settings(resolved("multiway")))


@pytest.mark.parametrize(
    ("train", "expected"),
    [({}, "ids"), ({"match": "sentences"}, "sentences"), ({"match": "pairs"}, "pairs")],
)
def test_matching_is_what_the_enx_run_declares(train, expected):
    assert matching(resolved("enx", **train)) == expected


@pytest.mark.parametrize(
    ("data", "train", "expected"),
    [
        # L = 2 languages: a multi-way row is 3 views, C(3, 2) = 3 pairs
        ("multiway", {}, {"batch_rows": 16, "pairs_per_row": 3, "pairs_per_step": 48}),
        ("multiway", {"pairs": "english"}, {"batch_rows": 16, "pairs_per_row": 2}),
        ("enx", {}, {"batch_rows": 16, "pairs_per_row": 1, "pairs_per_step": 16}),
        # batch_ids * (L + 1) / 2 = 24 ids per step
        ("enx", {"match": "sentences"}, {"batch_rows": 24, "pairs_per_step": 24}),
        ("multiway", {"gradient_accumulation": 2}, {"batch_rows": 16, "pair_budget": 30 * 96}),
    ],
)
def test_derived_budget_by_hand(data, train, expected):
    budget = derived_budget(resolved(data, **train))
    assert budget["steps"] == 30
    assert {key: budget[key] for key in expected} == expected


def _models(**runs: dict) -> dict[str, dict]:
    """Descriptions of runs (name -> settings) as describe_model gives them."""
    return {
        name: {
            "run": name,
            "student": "s",
            "data": settings["data"],
            "objective": settings["objective"],
            "settings": settings,
        }
        for name, settings in runs.items()
    }


def test_the_plan_says_why_a_pair_is_not_compared():
    models = _models(
        multiway=resolved("multiway"),
        english=resolved("multiway", pairs="english"),
        enx=resolved("enx"),
        equal=resolved("enx", match="sentences"),
    )
    models["unknown"] = {**models["enx"], "run": "unknown", "settings": None}
    plan = plan_comparisons(models)
    assert plan.compared == [
        Pairing("multiway", "enx", "multiway vs enx", "ids"),
        Pairing("multiway", "equal", "multiway vs enx", "sentences"),
    ]
    assert plan.not_compared == [
        NotCompared("multiway", "unknown", "settings of unknown unknown"),
        NotCompared("english", "enx", "differ in train.pairs (english vs all)"),
        NotCompared("english", "equal", "differ in train.pairs (english vs all)"),
        NotCompared("english", "unknown", "settings of unknown unknown"),
    ]


PROTOCOL = {"row_languages": 4, "row_english": "always", "match": "pairs"}


@pytest.mark.parametrize(
    ("multiway", "enx", "paper"),
    [
        ({}, {}, False),  # today's keys: no such comparison
        (PROTOCOL, PROTOCOL, True),
        ({**PROTOCOL, "match": "ids"}, PROTOCOL, True),  # match is the En-X run's
        (PROTOCOL, {**PROTOCOL, "match": "ids"}, False),
        ({**PROTOCOL, "row_languages": 3}, {**PROTOCOL, "row_languages": 3}, False),
        ({**PROTOCOL, "row_english": "any"}, {**PROTOCOL, "row_english": "any"}, False),
        ({**PROTOCOL, "pairs": "english"}, {**PROTOCOL, "pairs": "english"}, False),
    ],
)
def test_the_paper_protocol(multiway, enx, paper):
    (pairing,) = plan_comparisons(
        _models(m=resolved("multiway", **multiway), e=resolved("enx", **enx))
    ).compared
    assert pairing.paper_protocol is paper


def _experiment_config(overlay: str = "experiments/paper.yaml") -> dict:
    """config.yaml with a shipped overlay on top, validated as a run reads them."""
    config: dict = {}
    for name in ("config.yaml", overlay):
        update_config(config, yaml.safe_load((ROOT / name).read_text()))
    return validate_config(config)


# What `snakemake -n --configfile experiments/paper.yaml` plans for the report's
# multi-way vs En-X section (config.yaml's own two runs merge in as Snakemake merges them).
PAPER_COMPARED = [
    "multiway vs enx (matched on ids)",
    "xlmr-multiway vs xlmr-enx-pairs (matched on pairs, the paper's protocol)",
    "xlmr-multiway vs xlmr-enx (matched on ids)",
    "xlmr-multiway vs xlmr-enx-sentences (matched on sentences)",
    "mbert-multiway vs mbert-enx-pairs (matched on pairs, the paper's protocol)",
    "mbert-multiway vs mbert-enx (matched on ids)",
    "mbert-multiway vs mbert-enx-sentences (matched on sentences)",
    "me5-multiway-small vs me5-enx-small (matched on pairs, the paper's protocol)",
    "me5-multiway vs me5-enx (matched on ids)",
    "me5-multiway-soft vs me5-enx-soft (matched on ids)",
    "me5-multiway-soft-tcm vs me5-enx-soft-tcm (matched on ids)",
    "me5-multiway-similarity-mse vs me5-enx-similarity-mse (matched on ids)",
]
_GRID = "temperature: 0.05 0.1; drift_weight: 0.1 1.0"
_SMALL = (
    "train.batch_ids (128 vs 32), train.temperature (0.05 vs 0.1), train.row_languages (4 vs "
    "null), train.train_rows (10000 vs null), train.denominator (negatives vs standard), "
    f"train.drift_weight (1.0 vs 0.0), sweep ({_GRID} vs null)"
)
_FULL = (
    "train.batch_ids (32 vs 128), train.temperature (0.1 vs 0.05), train.row_languages (null "
    "vs 4), train.train_rows (null vs 10000), train.denominator (standard vs negatives), "
    f"train.drift_weight (0.0 vs 1.0), sweep (null vs {_GRID})"
)
PAPER_NOT_COMPARED = [
    *(
        f"xlmr-multiway-english vs {enx}: differ in train.pairs (english vs all)"
        for enx in ("xlmr-enx-pairs", "xlmr-enx", "xlmr-enx-sentences")
    ),
    f"me5-multiway-small vs me5-enx: differ in {_SMALL}",
    f"me5-multiway vs me5-enx-small: differ in {_FULL}",
    "me5-multiway-soft vs me5-enx-soft-tcm: differ in train.tcm (False vs True)",
    "me5-multiway-soft-average vs me5-enx-soft: differ in train.label_strategy (average vs "
    "priority)",
    "me5-multiway-soft-average vs me5-enx-soft-tcm: differ in train.label_strategy (average "
    "vs priority), train.tcm (False vs True)",
    "me5-multiway-soft-tcm vs me5-enx-soft: differ in train.tcm (True vs False)",
]


def test_paper_experiment_comparisons():
    config = _experiment_config()
    lines = config_comparisons(config).lines()
    compared = [line.removeprefix("compared: ") for line in lines if "base student" not in line]
    compared = [line for line in compared if not line.startswith("not compared")]
    assert compared == PAPER_COMPARED
    assert [line.removeprefix("not compared: ") for line in lines if line.startswith("not")] == (
        PAPER_NOT_COMPARED
    )
    # every trained run against its base student
    assert sum("against its base student" in line for line in lines) == len(config["runs"]) == 22


def test_cli_lists_the_comparisons(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = {
        "languages": ["de", "zh"],
        "students": {"s": {"model": "intfloat/multilingual-e5-small"}},
        "runs": {
            "multiway": {"student": "s", "data": "multiway"},
            "english": {"student": "s", "data": "multiway", "pairs": "english"},
            "enx": {"student": "s", "data": "enx", "enx_targets": "per_seed"},
        },
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setattr("mwalign.config.check_inputs", lambda config: None)
    assert cli.main(["plan", "--comparisons", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "compared: multiway vs enx (matched on ids)",
        "compared: multiway vs base-s (against its base student)",
        "compared: english vs base-s (against its base student)",
        "compared: enx vs base-s (against its base student)",
        "not compared: english vs enx: differ in train.pairs (english vs all)",
    ]


def _report(tmp_path, meta: dict) -> str:
    from mwalign.report import build_report

    results = {
        name: [bitext_evaluation(acc, seed=i)]
        for i, (name, acc) in enumerate(
            (
                ("multiway", {"de": 0.95, "zh": 0.85}),
                ("english", {"de": 0.90, "zh": 0.80}),
                ("enx", {"de": 0.85, "zh": 0.70}),
            )
        )
        if name in meta
    }
    out = tmp_path / "r"
    build_report(
        result_paths=write_results(tmp_path, results),
        model_meta=meta,
        out_scores=out / "s.parquet",
        out_summary=out / "summary.md",
        settings=SETTINGS,
    )
    text = (out / "summary.md").read_text()
    return text.split("## Multi-way vs En-X")[1].split("\n## ")[0]


XLMR = "FacebookAI/xlm-roberta-base"


def test_summary_states_matching_what_each_side_saw_and_what_is_not_compared(tmp_path):
    seen = {"steps": 30, "rows": 480, "distinct_ids": 400, "distinct_sentences": 1200,
            "pairs": 1440, "languages": {}, "language_pairs": {}}  # fmt: skip
    meta = {
        "multiway": {**run_meta("multiway", "multiway", model=XLMR), "seen": seen},
        "english": run_meta("english", "multiway", model=XLMR),
        "enx": run_meta("enx", "enx", model=XLMR),
    }
    meta["english"]["settings"]["train"]["pairs"] = "english"
    section = _report(tmp_path, meta)
    assert "| Bitext mining | all | multiway | enx |" in section
    assert "| Bitext mining | all | english | enx |" not in section
    assert (
        "- multiway vs enx: matched on ids (the same sentence ids per step). "
        "multiway: planned 30 steps × 16 rows (48 pairs per step, 1,440 pairs); "
        "counted 1,200 distinct sentences, 1,440 pairs, 30 steps. "
        "enx: planned 30 steps × 16 rows (16 pairs per step, 480 pairs); not counted (no record)"
    ) in section
    assert "Not compared (their training settings differ beyond the data):" in section
    assert "- english vs enx: differ in train.pairs (english vs all)" in section
    row = next(line for line in section.splitlines() if line.startswith("| Bitext mining | all"))
    assert row.split(" | ")[10] == "–"  # an XLM-R student, but not the paper's protocol


def test_runs_trained_by_epochs_say_their_epochs_and_pairs_per_epoch(tmp_path):
    """Runs trained by epochs have no fixed steps or pair budget: the summary says their
    epochs and pairs per epoch (``up to`` with early stopping) instead of failing."""
    by_epochs = {**PROTOCOL, "steps": None, "epochs": 4, "patience": 2, "train_rows": 320}
    meta = {run: run_meta(run, run) for run in ("multiway", "enx")}
    for info in meta.values():
        info["settings"]["train"].update(by_epochs)
    section = _report(tmp_path, meta)
    assert (
        "- multiway vs enx: matched on pairs (as many training pairs in all). "
        "multiway: planned up to 4 epochs × 16 rows (96 pairs per step, 1,920 pairs per epoch "
        "from 320 train rows); not counted (no record). "
        "enx: planned up to 4 epochs × 16 rows (16 pairs per step, 1,920 pairs per epoch "
        "from 1,920 train rows); not counted (no record)"
    ) in section
    whole = {**by_epochs, "train_rows": None, "patience": None}  # every row, no early stop
    assert planned_text(resolved("enx", **whole)) == (
        "4 epochs × 16 rows (16 pairs per step, 1 pair per train row per epoch)"
    )


def test_the_paper_gain_stands_beside_the_paper_protocol_only(tmp_path):
    meta = {run: run_meta(run, run, model=XLMR) for run in ("multiway", "enx")}
    for info in meta.values():
        info["settings"]["train"].update(PROTOCOL)
    section = _report(tmp_path, meta)
    row = next(line for line in section.splitlines() if line.startswith("| Bitext mining | all"))
    assert row.split(" | ")[10] == "+21.3%"
    assert "matched on pairs" in section


def test_planner_settings_decide_over_the_recorded_ones(tmp_path):
    """run_params (the report rule's, from the config) replace what the folders recorded."""
    from mwalign.report import build_report

    meta = {run: run_meta(run, run) for run in ("multiway", "enx")}
    results = {run: [bitext_evaluation({"de": 0.9}, seed=i)] for i, run in enumerate(meta)}
    out = tmp_path / "r"
    build_report(
        result_paths=write_results(tmp_path, results),
        model_meta=meta,
        out_scores=out / "s.parquet",
        out_summary=out / "summary.md",
        settings=SETTINGS,
        run_params={"multiway": resolved("multiway", steps=99), "enx": resolved("enx")},
    )
    text = (out / "summary.md").read_text()
    assert "- multiway vs enx: differ in train.steps (99 vs 30)" in text


def test_a_trained_folder_gives_its_recorded_settings_and_counts(tmp_path):
    from mwalign.report import describe_model

    params = {"job": "m-seed1", "run": "m", "replicate": 1, "seed": 5, **resolved("multiway")}
    seen = {"steps": 30, "rows": 480, "distinct_sentences": 1200, "pairs": 1440}
    record = {"params": params, "provenance": {"student": {}}, "seen": seen}
    (tmp_path / "mwalign_run.json").write_text(json.dumps(record))
    info = describe_model("m-seed1", tmp_path)
    assert info["settings"] == resolved("multiway") and info["seen"] == seen
    del record["seen"]  # a model trained before the count was recorded
    (tmp_path / "mwalign_run.json").write_text(json.dumps(record))
    assert describe_model("m-seed1", tmp_path)["seen"] is None


def test_counts_that_differ_over_seeds_show_their_range():
    from mwalign.report.budget import counted_text

    seen = [{"distinct_sentences": 1200, "pairs": 1440, "steps": 30},
            {"distinct_sentences": 1180, "pairs": 1440, "steps": 30}]  # fmt: skip
    assert (
        counted_text(seen) == "1,180–1,200 distinct sentences, 1,440 pairs, 30 steps (over 2 seeds)"
    )


@pytest.mark.slow
def test_a_dry_run_lists_the_report_plan(tmp_path):
    from workflow_helpers import snakemake, tiny_config, tiny_student

    runs = {
        "multiway": {"student": "tiny", "data": "multiway"},
        "english": {"student": "tiny", "data": "multiway", "pairs": "english"},
        "enx": {"student": "tiny", "data": "enx"},
    }
    tiny_config(tmp_path, tiny_student(tmp_path / "tiny"), runs=runs)
    out = snakemake(tmp_path, "--dry-run").stdout
    plan = out.split("report; its comparisons:\n")[1].split("\nReason:")[0].splitlines()
    assert [line.strip() for line in plan] == [
        "compared: multiway vs enx (matched on ids)",
        "compared: multiway vs base-tiny (against its base student)",
        "compared: english vs base-tiny (against its base student)",
        "compared: enx vs base-tiny (against its base student)",
        "not compared: english vs enx: differ in train.pairs (english vs all)",
    ]


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        (
            "experiments/evidence-protocol.yaml",
            [
                "multiway vs enx (matched on ids)",
                "mw4std-s10 vs enx4pstd-s10 (matched on pairs, the paper's protocol)",
                "mw4std-s40 vs enx4pstd-s40 (matched on pairs, the paper's protocol)",
                "mw4-s10 vs enx4p-s10 (matched on pairs, the paper's protocol)",
                "mw4-s40 vs enx4p-s40 (matched on pairs, the paper's protocol)",
                "mw4-s100 vs enx4p-s100 (matched on pairs, the paper's protocol)",
            ],
        ),
        (
            "experiments/evidence-raw-student.yaml",
            [
                "multiway vs enx (matched on ids)",
                "gemma-multiway vs gemma-enx (matched on ids)",
                "gemma-mw4-s10 vs gemma-enx4p-s10 (matched on pairs, the paper's protocol)",
                "gemma-mw4-s40 vs gemma-enx4p-s40 (matched on pairs, the paper's protocol)",
                "gemma-mw4-s100 vs gemma-enx4p-s100 (matched on pairs, the paper's protocol)",
                "gemma-mw4-es vs gemma-enx4p-es (matched on pairs, the paper's protocol)",
                "gemma-mw4-paper-s40 vs gemma-enx4p-paper-s40"
                " (matched on pairs, the paper's protocol)",
            ],
        ),
    ],
)
def test_evidence_overlays_compare_each_step_count_with_its_own(overlay, expected):
    """The evidence overlays of docs/results.md pair every multi-way run with the En-X run
    of its own step count and loss only: a learning curve, not a cross-step comparison."""
    lines = config_comparisons(_experiment_config(overlay)).lines()
    compared = [line.removeprefix("compared: ") for line in lines if line.startswith("compared")]
    assert [line for line in compared if "base student" not in line] == expected
