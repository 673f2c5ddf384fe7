"""Report statistics: p-values agree with intervals, gains centred on what is printed, figures
draw intervals as they are, ratios over near-chance baselines withheld, parallel items drawn
jointly, English-centric headlines, each language counted once, what a comparison left out."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from mwalign.report import build_report, collect_scores
from mwalign.report.compare import Replicates, Settings, bootstrap_replicates, compare_runs
from mwalign.report.compare import summarise as summarise_replicates
from mwalign.report.stats import model_averages, shared_languages
from mwalign.report.summary import comparison_section
from scipy import stats
from test_report import (
    bitext_evaluation,
    classification_items,
    classification_result,
    run_meta,
    write_results,
)

SETTINGS = {"bootstrap_resamples": 200, "confidence": 0.95}


def _rows(subsets: dict[str, str], task: str = "T", kind: str = "BitextMining") -> pd.DataFrame:
    """Replicates rows: subset -> language (config codes joined by '-')."""
    return pd.DataFrame(
        {
            "task": task,
            "task_type": kind,
            "subset": list(subsets),
            "language": list(subsets.values()),
            "code": [
                next(iter(sorted(set(v.split("-")) - {"en"})), "en") for v in subsets.values()
            ],
            "seen": "seen",
        }
    )


def _bootstrap(differences: np.ndarray, observed: float) -> Replicates:
    """One subset: B scores 1 on every replicate, A 1 + ``differences``; observed A − B."""
    b = np.ones((1, len(differences)))
    return Replicates(
        _rows({"de-en": "de-en"}),
        b + differences[None],
        b,
        np.array([1.0 + observed]),
        np.array([1.0]),
        "bootstrap",
        "test",
    )


def _excludes_zero(row) -> bool:
    return row["low"] > 0 or row["high"] < 0


@pytest.mark.parametrize(
    ("centre", "observed"),
    [
        (-1.0, 0.2),  # every raw replicate below 0, the centred interval around +0.2 holds 0
        (0.0, 2.0),  # raw replicates around 0, the centred interval far above 0
    ],
)
def test_bootstrap_p_and_interval_come_from_one_distribution(centre, observed):
    rng = np.random.default_rng(0)
    rep = _bootstrap(rng.normal(centre, 0.3, 999), observed)
    table = summarise_replicates(rep, Settings(999, 0.95, 0))
    for _, row in table.iterrows():
        assert _excludes_zero(row) == (row["p"] < 0.05), row.to_dict()


def test_bootstrap_interval_excludes_zero_exactly_when_p_is_below_its_level():
    rng = np.random.default_rng(1)
    differences = rng.normal(-0.3, 0.4, 500)
    checked = 0
    for observed in np.linspace(-1.2, 1.2, 61):
        for confidence in (0.9, 0.95, 0.99):
            table = summarise_replicates(
                _bootstrap(differences, float(observed)), Settings(500, confidence, 0)
            )
            row = table.iloc[0]
            assert _excludes_zero(row) == (row["p"] < 1 - confidence), (observed, confidence)
            checked += _excludes_zero(row)
    assert 0 < checked < 61 * 3  # both outcomes occur


def _seeds(a: list[float], b: list[float]) -> pd.Series:
    rep = Replicates(
        _rows({"de-en": "de-en"}),
        np.array([a]),
        np.array([b]),
        np.array([np.mean(a)]),
        np.array([np.mean(b)]),
        "seeds",
        "test",
    )
    return summarise_replicates(rep, Settings(0, 0.95, 0)).iloc[0]


def test_seed_gain_and_its_interval_are_centred_on_the_ratio_of_means():
    a, b = [0.80, 0.70, 0.75], [0.60, 0.40, 0.50]
    row = _seeds(a, b)
    ratio = np.mean(a) / np.mean(b)
    assert row["gain"] == pytest.approx(100 * (ratio - 1))
    assert (row["gain_low"] + row["gain_high"]) / 2 == pytest.approx(row["gain"])
    # delta method: the ratio's standard error from the per-seed residuals a_k − r·b_k
    residuals = np.array(a) - ratio * np.array(b)
    half = stats.t.ppf(0.975, 2) * np.std(residuals, ddof=1) / (np.mean(b) * math.sqrt(3))
    assert row["gain_high"] - row["gain"] == pytest.approx(100 * half)


def test_seed_gain_over_a_fixed_baseline_is_the_t_interval_of_per_seed_gains():
    a, b = [0.80, 0.70, 0.75], [0.5, 0.5, 0.5]  # a base model: the same score every seed
    row = _seeds(a, b)
    gains = 100 * (np.array(a) / 0.5 - 1)
    low, high = stats.t.interval(0.95, 2, loc=gains.mean(), scale=stats.sem(gains))
    assert (row["gain_low"], row["gain_high"]) == (pytest.approx(low), pytest.approx(high))


def _drawn(monkeypatch, draw) -> list:
    from mwalign.report import plots

    figures = []

    def keep(figure, path):
        figures.append(figure)
        return path

    monkeypatch.setattr(plots, "save_figure", keep)
    draw(plots)
    return figures


def _vertical_spans(figure) -> list[tuple[float, float, float]]:
    spans = []
    for axes in figure.axes:
        segments = [s for c in axes.collections for s in c.get_segments()]
        segments += [np.column_stack(line.get_data()) for line in axes.get_lines()]
        for seg in segments:
            if len(seg) == 2 and seg[0][0] == seg[1][0] and seg[0][1] != seg[1][1]:
                spans.append((float(seg[0][0]), *sorted((float(seg[0][1]), float(seg[1][1])))))
    return spans


def _points(figure) -> list[float]:
    return [
        float(y)
        for axes in figure.axes
        for line in axes.get_lines()
        if line.get_marker() == "o"
        for y in line.get_ydata()
    ]


def test_gain_plot_draws_a_point_outside_its_interval_as_it_is(monkeypatch, tmp_path):
    pairs = pd.DataFrame(
        [
            {"level": "aggregate", "task_type": "BitextMining", "group": group,
             "run_a": "multiway", "run_b": "enx", "gain": gain, "gain_low": low,
             "gain_high": high, "gain_withheld": False, "confidence": 0.95}
            for group, gain, low, high in (("all", 5.0, 6.0, 8.0), ("seen", 3.0, 1.0, 4.0))
        ]
    )  # fmt: skip
    models = {"multiway": {"run": "multiway", "model_id": "x"}}
    (figure,) = _drawn(monkeypatch, lambda p: p.gain_plot(pairs, models, tmp_path / "g.png"))
    spans = {(low, high) for _, low, high in _vertical_spans(figure)}
    assert (6.0, 8.0) in spans and (1.0, 4.0) in spans and (4.0, 8.0) not in spans
    assert {5.0, 3.0} <= set(_points(figure))


def test_difference_plot_draws_a_point_outside_its_interval_as_it_is(monkeypatch, tmp_path):
    table = pd.DataFrame(
        [
            {"level": "language", "task": "T", "language": "de", "group": "seen",
             "run_a": "multiway", "run_b": "enx", "diff": 0.05, "low": 0.06, "high": 0.08,
             "method": "bootstrap", "confidence": 0.95}
        ]
    )  # fmt: skip
    (figure,) = _drawn(monkeypatch, lambda p: p.difference_plot(table, "T", tmp_path / "d.png"))
    spans = {(round(low, 6), round(high, 6)) for _, low, high in _vertical_spans(figure)}
    assert (6.0, 8.0) in spans and (5.0, 8.0) not in spans
    assert 5.0 in {round(y, 6) for y in _points(figure)}


def _near_chance_report(tmp_path) -> str:
    """A trained run against a base student at chance: bitext F1 ~0.05, accuracy at majority."""
    labels = classification_items([0] * 30 + [1] * 20 + [2] * 10)  # majority class: 50%
    labels = pd.concat([labels, labels.assign(subset="deu_Latn")], ignore_index=True)
    results = {
        "base-s": [
            bitext_evaluation({"de": 0.05, "fr": 0.05}, seed=0),
            (classification_result({"en": 0.52, "de": 0.50}), labels),
        ],
        "multiway": [
            bitext_evaluation({"de": 0.70, "fr": 0.60}, seed=1),
            (classification_result({"en": 0.80, "de": 0.70}), labels),
        ],
    }
    meta = {"base-s": {}, "multiway": run_meta("multiway", "multiway", languages=["de"])}
    out = tmp_path / "r"
    build_report(
        result_paths=write_results(tmp_path, results),
        model_meta=meta,
        out_scores=out / "scores.parquet",
        out_summary=out / "summary.md",
        settings=SETTINGS,
    )
    return (out / "summary.md").read_text()


def test_relative_gain_over_a_baseline_near_chance_is_withheld(tmp_path):
    summary = _near_chance_report(tmp_path)
    section = summary.split("## Trained runs vs base")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| Bitext mining |")]
    rows += [line for line in section.splitlines() if line.startswith("| Classification |")]
    assert rows
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[6].startswith("+")  # the difference in points stands
        assert cells[8].startswith("withheld") and cells[9] == "–", line
    assert "less than 10 points above chance" in section


def _bitext_scores(task: str, subsets: dict[str, tuple[list[str], float]]) -> dict:
    entries = [
        {"main_score": score, "f1": score, "hf_subset": name, "languages": languages}
        for name, (languages, score) in subsets.items()
    ]
    return {"task_name": task, "mteb_version": "2.26.24", "scores": {"test": entries}}


def test_bitext_headline_is_english_centric_and_other_pairs_a_group_of_their_own(tmp_path):
    flores = {
        "eng_Latn-deu_Latn": (["eng-Latn", "deu-Latn"], 0.9),
        "deu_Latn-eng_Latn": (["deu-Latn", "eng-Latn"], 0.8),
        "deu_Latn-fra_Latn": (["deu-Latn", "fra-Latn"], 0.2),
        "fra_Latn-deu_Latn": (["fra-Latn", "deu-Latn"], 0.4),
    }
    tatoeba = {"deu-eng": (["deu-Latn", "eng-Latn"], 0.6)}  # mteb's Tatoeba subset names
    bucc = {"de-en": (["deu-Latn", "eng-Latn"], 0.7)}  # and BUCC's
    flores_task = "FloresBitextMining"
    results = {
        "base-s": [
            (_bitext_scores(flores_task, flores), None),
            (_bitext_scores("Tatoeba", tatoeba), None),
            (_bitext_scores("BUCC.v2", bucc), None),
        ]
    }
    for result, _ in results["base-s"]:
        if result["task_name"] == flores_task:
            result["scores"] = {"devtest": result["scores"]["test"]}
    paths = write_results(tmp_path, results)
    scores, _ = collect_scores(paths, {"base-s": {}})
    averages = model_averages(scores).set_index("group")["score"]
    # all: Flores' English-centric pairs (0.85), Tatoeba (0.6), BUCC (0.7)
    assert averages["all"] == pytest.approx((0.85 + 0.6 + 0.7) / 3)
    assert averages["pairs without English"] == pytest.approx(0.3)
    out = tmp_path / "r"
    build_report(result_paths=paths, model_meta={"base-s": {}}, out_scores=out / "s.parquet",
                 out_summary=out / "summary.md", settings=SETTINGS)  # fmt: skip
    summary = (out / "summary.md").read_text()
    header = next(line for line in summary.splitlines() if line.startswith("| student | run |"))
    assert header.endswith("| all | seen | unseen | pairs without English |")
    assert "| s | base-s | base | none | 1 | 71.7 |" in summary and "| 30.0 |" in summary


def test_a_language_with_two_subsets_counts_once():
    rows = []
    for subset, language, score in (("en", "en", 0.9), ("en-ext", "en", 0.7), ("de", "de", 0.5)):
        rows.append(
            {"model": "m", "run": "m", "student": "s", "data": "base", "objective": "none",
             "seed": 0, "task": "AmazonCounterfactualClassification",
             "task_type": "Classification", "split": "test", "evaluation": True,
             "subset": subset, "language": language, "seen": "seen",
             "metric": "main_score", "score": score}
        )  # fmt: skip
    averages = model_averages(pd.DataFrame(rows)).set_index("group")["score"]
    assert averages["all"] == pytest.approx((0.8 + 0.5) / 2)
    assert shared_languages(pd.DataFrame(rows)) == {
        "AmazonCounterfactualClassification": [["en", "en-ext"]]
    }
    rep = Replicates(
        _rows({"en": "en", "en-ext": "en", "de": "de"}, "AmazonCounterfactualClassification"),
        np.array([[0.9], [0.7], [0.5]]),
        np.zeros((3, 1)),
        np.array([0.9, 0.7, 0.5]),
        np.array([0.5, 0.5, 0.5]),
        "bootstrap",
        "test",
    )
    table = summarise_replicates(rep, Settings(1, 0.95, 0))
    aggregate = table[(table["level"] == "aggregate") & (table["group"] == "all")].iloc[0]
    assert aggregate["a"] == pytest.approx(0.65)


def _classification_main(task: str, subsets: list[str], models: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"model": m, "run": m, "task": task, "task_type": "Classification", "split": "test",
             "subset": s, "language": s, "seen": "seen", "score": 0.5}
            for m in models
            for s in subsets
        ]
    )  # fmt: skip


def _classification_items(subsets: list[str], predicted: np.ndarray, gold: np.ndarray):
    return pd.concat(
        [
            pd.DataFrame(
                {"split": "test", "subset": s, "group": s, "item": np.arange(len(gold)),
                 "experiment": 0, "gold": gold, "predicted": predicted,
                 "gold_score": np.nan, "predicted_score": np.nan}
            )
            for s in subsets
        ],
        ignore_index=True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("task", "joint"),
    [
        ("MassiveIntentClassification", True),
        ("SIB200Classification.v3", True),
        ("AmazonReviewsClassification", False),
    ],
)
def test_items_of_a_parallel_task_are_drawn_jointly_across_languages(task, joint):
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 80)
    right = np.where(rng.random(80) < 0.7, gold, (gold + 1) % 3)
    subsets = ["de", "fr"]
    main = _classification_main(task, subsets, ["a", "b"])
    # items as evaluation wrote them before the task was declared parallel: group = subset
    items = {
        ("a", task): _classification_items(subsets, right, gold),
        ("b", task): _classification_items(subsets, gold, gold),
    }
    rep = bootstrap_replicates(
        main=main, model_a="a", model_b="b", items=items, settings=Settings(50, 0.95, 3)
    )
    assert np.array_equal(rep.a[0], rep.a[1]) == joint


def test_a_parallel_task_whose_items_do_not_align_is_drawn_per_language():
    task = "MassiveIntentClassification"
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 80)
    frame = _classification_items(["de", "fr"], gold, gold)
    frame.loc[frame["subset"] == "fr", "gold"] = (gold + 1) % 3  # not the same items
    items = {("a", task): frame, ("b", task): frame}
    main = _classification_main(task, ["de", "fr"], ["a", "b"])
    rep = bootstrap_replicates(
        main=main, model_a="a", model_b="b", items=items, settings=Settings(50, 0.95, 3)
    )
    assert not np.array_equal(rep.a[0], rep.a[1])
    assert "not aligned across languages" in rep.description


def _seed_scores(runs: dict[str, tuple[str, list[int]]]) -> pd.DataFrame:
    """Scores of ``runs`` (run -> data, seeds) on two bitext subsets."""
    rows = []
    for run, (data, seeds) in runs.items():
        for seed in seeds:
            score = 0.8 + 0.01 * seed + 0.1 * (data == "multiway")
            model = run if len(seeds) == 1 else f"{run}-seed{seed}"
            for subset, language in (("de-en", "de-en"), ("fr-en", "fr-en")):
                rows.append(
                    {"model": model, "run": run, "student": "s", "data": data,
                     "objective": "infonce", "seed": seed, "task": "BibleBitextMining",
                     "task_type": "BitextMining", "split": "test", "evaluation": True,
                     "subset": subset, "language": language, "seen": "seen",
                     "metric": "main_score", "score": score}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_one_seed_of_a_trained_run_against_several_is_said():
    scores = _seed_scores({"multiway": ("multiway", [0, 1, 2]), "enx": ("enx", [0])})
    table = compare_runs(
        scores=scores, run_a="multiway", run_b="enx", items={}, settings=Settings(10, 0.95, 0)
    )
    assert table["method"].eq("seeds").all() and table["one_seed"].eq("B").all()
    assert "B is one training seed" in table["description"].iloc[0]
    section = comparison_section("Multi-way vs En-X", "", table, {})
    assert "| seeds (B: one seed) |" in section
    reverse = compare_runs(
        scores=scores, run_a="enx", run_b="multiway", items={}, settings=Settings(10, 0.95, 0)
    )
    assert "A is one training seed" in reverse["description"].iloc[0]
    assert reverse["diff"].iloc[0] == pytest.approx(-table["diff"].iloc[0])
    base = _seed_scores({"multiway": ("multiway", [0, 1, 2]), "base-s": ("base", [0])})
    table = compare_runs(
        scores=base, run_a="multiway", run_b="base-s", items={}, settings=Settings(10, 0.95, 0)
    )
    assert "one training seed" not in table["description"].iloc[0]


def test_what_one_side_lacks_is_named_in_the_notes(tmp_path):
    labels = [0] * 30 + [1] * 20 + [2] * 10
    enx_bitext = bitext_evaluation({"de": 0.85, "zh": 0.7}, seed=2)
    results = {
        "multiway": [
            bitext_evaluation({"de": 0.95, "zh": 0.85, "fr": 0.8}, seed=1),
            (classification_result({"en": 0.8, "de": 0.7}), classification_items(labels)),
        ],
        "enx": [enx_bitext],
    }
    meta = {"multiway": run_meta("multiway", "multiway"), "enx": run_meta("enx", "enx")}
    out = tmp_path / "r"
    build_report(result_paths=write_results(tmp_path, results), model_meta=meta,
                 out_scores=out / "s.parquet", out_summary=out / "summary.md",
                 settings=SETTINGS)  # fmt: skip
    section = (out / "summary.md").read_text().split("## Multi-way vs En-X")[1].split("\n## ")[0]
    assert "Left out" in section
    assert "BibleClassification (2 subsets) only in multiway" in section
    assert (
        "BibleBitextMining: 2 of 6 subsets only in multiway (eng_Latn-fra_Latn, fra_Latn-eng_Latn)"
        in section
    )


def test_a_subset_one_seed_lacks_is_named_and_left_out():
    scores = _seed_scores({"multiway": ("multiway", [0, 1, 2]), "enx": ("enx", [0, 1, 2])})
    lost = (scores["run"] == "enx") & (scores["seed"] == 2) & (scores["subset"] == "fr-en")
    table = compare_runs(
        scores=scores[~lost], run_a="multiway", run_b="enx", items={},
        settings=Settings(10, 0.95, 0),
    )  # fmt: skip
    assert set(table.loc[table["level"] == "language", "language"]) == {"de"}
    assert table["left_out"].iloc[0] == "BibleBitextMining: fr-en lack a seed on one side"
    section = comparison_section("Multi-way vs En-X", "", table, {})
    assert "- multiway vs enx: BibleBitextMining: fr-en lack a seed on one side" in section


def test_one_seed_against_one_seed_says_its_interval_holds_evaluation_noise_only():
    scores = _seed_scores({"multiway": ("multiway", [0]), "enx": ("enx", [0])})
    table = compare_runs(
        scores=scores, run_a="multiway", run_b="enx", items={}, settings=Settings(10, 0.95, 0)
    )
    assert table["method"].eq("bootstrap").all()
    assert table["description"].iloc[0].endswith("evaluation noise only, one training seed")
    assert "| items (bootstrap) |" in comparison_section("Multi-way vs En-X", "", table, {})
