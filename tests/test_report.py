"""Report stage: scores, evaluation split only, seeds and paired bootstrap, paper gains, figures."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from mwalign import tables
from mwalign.evaluate.items import PARALLEL_GROUP, items_path, weighted_f1
from mwalign.files import read_table, write_table
from mwalign.report import build_report, collect_scores, describe_model
from mwalign.report.compare import Settings, compare_runs, format_p
from mwalign.report.stats import paper_gain

LANGS = {"de": "deu-Latn", "zh": "zho-Hans", "fr": "fra-Latn", "sw": "swh-Latn"}
N_ITEMS = 60


def _subset(pair: list[str]) -> str:
    return "-".join(lang.replace("-", "_") for lang in pair)


def bitext_evaluation(accuracy: dict[str, float], seed: int = 0) -> tuple[dict, pd.DataFrame]:
    """A BibleBitextMining result and its items: ``accuracy[lang]`` of verses matched, both ways."""
    rng = np.random.default_rng(seed)
    entries, frames = [], []
    for code, rate in accuracy.items():
        for pair in (["eng-Latn", LANGS[code]], [LANGS[code], "eng-Latn"]):
            gold = np.arange(N_ITEMS)
            right = rng.permutation(N_ITEMS) < round(rate * N_ITEMS)
            predicted = np.where(right, gold, (gold + 1) % N_ITEMS)
            f1 = weighted_f1(gold, predicted, np.ones(N_ITEMS))
            entries.append(
                {
                    "f1": f1,
                    "accuracy": float(right.mean()),
                    "main_score": f1,
                    "hf_subset": _subset(pair),
                    "languages": pair,
                }
            )
            frames.append(
                pd.DataFrame(
                    {
                        "split": "test",
                        "subset": _subset(pair),
                        "group": PARALLEL_GROUP,
                        "item": gold,
                        "experiment": 0,
                        "gold": gold,
                        "predicted": predicted,
                        "gold_score": np.nan,
                        "predicted_score": np.nan,
                    }
                )
            )
    result = {
        "task_name": "BibleBitextMining",
        "mteb_version": "2.26.24",
        "scores": {"test": entries},
    }
    return result, pd.concat(frames, ignore_index=True)


def classification_result(scores: dict[str, float], task: str = "BibleClassification") -> dict:
    entries = [
        {
            "accuracy": v,
            "f1": v - 0.1,
            "ap": float("nan"),
            "main_score": v,
            "hf_subset": LANGS.get(c, "eng-Latn").replace("-", "_"),
            "languages": [LANGS.get(c, "eng-Latn")],
        }
        for c, v in scores.items()
    ]
    return {"task_name": task, "mteb_version": "2.26.24", "scores": {"test": entries}}


def classification_items(labels: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "split": "test",
            "subset": "eng_Latn",
            "group": PARALLEL_GROUP,
            "item": np.arange(len(labels)),
            "experiment": 0,
            "gold": labels,
            "predicted": labels,
            "gold_score": np.nan,
            "predicted_score": np.nan,
        }
    )


def write_results(root, results: dict[str, list]) -> list:
    """Write each model's (result, items or None) under root/eval/{model}/."""
    paths = []
    for model, entries in results.items():
        for result, items in entries:
            path = root / "eval" / model / f"{result['task_name']}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result))  # NaN as mteb writes it
            if items is not None:
                write_table(
                    __import__("pyarrow").Table.from_pandas(items, preserve_index=False),
                    items_path(path),
                    tables.ITEMS,
                )
            paths.append(path)
    return paths


def resolved(data, languages=("de", "zh"), model="intfloat/multilingual-e5-small", **train):
    """A run's resolved params as train_params gives them (seeds left out), ``train`` overriding."""
    hyper = {"steps": 30, "batch_ids": 16, "gradient_accumulation": 1, "learning_rate": 5e-5,
             "pairs": "all", "match": "ids", "row_languages": None, "row_english": "always",
             "train_rows": None, "enx_targets": "dataset", "denominator": "standard",
             "drift_weight": 0, "label_strategy": "priority", "checkpoint_every": 100}  # fmt: skip
    return {
        "rows_seed": 7,
        "student": {"name": "s", "model": model},
        "data": data,
        "objective": "infonce",
        "languages": list(languages),
        "teacher": None,
        "train": hyper | train,
    }


def run_meta(run, data, seed=0, languages=("de", "zh"), model="intfloat/multilingual-e5-small"):
    return {
        "run": run,
        "student": {"name": "s", "model": model},
        "data": data,
        "objective": "infonce",
        "replicate": seed,
        "languages": list(languages),
        "settings": resolved(data, languages, model),
    }


BASE = {"de": 0.80, "zh": 0.60, "fr": 0.70, "sw": 0.30}
MULTIWAY = {"de": 0.95, "zh": 0.85, "fr": 0.80, "sw": 0.40}
ENX = {"de": 0.85, "zh": 0.70, "fr": 0.72, "sw": 0.32}
EXPERIMENT = {
    "config_hash": "0123456789abcdef0123",
    "languages": ["de", "zh"],
    "unseen_languages": ["fr", "sw", "ko"],
    "students": {"s": "intfloat/multilingual-e5-small"},
    "versions": {"torch": "2.13.0", "mteb": "2.26.24"},
    "machine": "test CPU",
}


SETTINGS = {"bootstrap_resamples": 200, "confidence": 0.95}  # config.report, fewer resamples


def report_of(paths: list, meta: dict, out, figures: bool = False) -> list:
    """build_report into folder ``out``; with ``figures`` also plots, HTML and the header."""
    extra = {"plot_dir": out / "plots", "out_html": out / "summary.html"} if figures else {}
    return build_report(
        result_paths=paths,
        model_meta=meta,
        out_scores=out / "scores.parquet",
        out_summary=out / "summary.md",
        settings=SETTINGS,
        experiment=EXPERIMENT if figures else None,
        **extra,
    )


@pytest.fixture
def experiment(tmp_path):
    labels = [0] * 30 + [1] * 20 + [2] * 10
    results = {
        name: [
            bitext_evaluation(acc, seed=i),
            (classification_result(cls), classification_items(labels)),
        ]
        for i, (name, acc, cls) in enumerate(
            (
                ("base-s", BASE, {"en": 0.5, "de": 0.4}),
                ("multiway", MULTIWAY, {"en": 0.6, "de": 0.5}),
                ("enx", ENX, {"en": 0.5, "de": 0.5}),
            )
        )
    }
    paths = write_results(tmp_path, results)
    meta = {
        "base-s": {"model_id": "intfloat/multilingual-e5-small"},
        "multiway": run_meta("multiway", "multiway"),
        "enx": run_meta("enx", "enx"),
    }
    return tmp_path, paths, meta, results


def _line(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(start))


def test_scores_equal_the_result_files(experiment):
    root, paths, meta, results = experiment
    report_of(paths, meta, root / "r")
    scores = read_table(root / "r/scores.parquet", tables.SCORES).to_pandas()
    main = scores[(scores["metric"] == "main_score") & (scores["task"] == "BibleBitextMining")]
    for model, entries in results.items():
        rows = main[main["model"] == model].set_index("subset")["score"]
        for entry in entries[0][0]["scores"]["test"]:
            assert rows[entry["hf_subset"]] == entry["main_score"]
    assert not scores["score"].isna().any() and "ap" not in set(scores["metric"])
    assert set(scores["task_type"]) == {"BitextMining", "Classification"}
    assert scores["evaluation"].all() and set(scores["split"]) == {"test"}


def test_seen_unseen_tags(experiment):
    root, paths, meta, _ = experiment
    scores, models = collect_scores(paths, meta)
    assert models["base-s"]["languages"] == ["de", "zh"]  # from the runs of its student
    tags = scores.drop_duplicates(["model", "language"]).set_index(["model", "language"])["seen"]
    assert tags[("multiway", "en-de")] == "seen" and tags[("multiway", "fr-en")] == "unseen"
    assert tags[("base-s", "zh-en")] == "seen" and tags[("base-s", "en-sw")] == "unseen"


def test_summary_shows_averages_intervals_and_figures(experiment):
    root, paths, meta, results = experiment
    figures = report_of(paths, meta, root / "r", figures=True)
    summary = (root / "r/summary.md").read_text()
    scores, _ = collect_scores(paths, meta)
    main = scores[(scores["metric"] == "main_score") & (scores["task_type"] == "BitextMining")]
    per_model = main.groupby(["model", "seen"])["score"].mean()
    row = _line(summary, "| s | multiway |")
    assert f"| {100 * per_model[('multiway', 'seen')]:.1f} | " in row
    gain = _line(summary, "| Bitext mining | all | multiway | enx |")
    a, b = (
        main[main["model"] == "multiway"]["score"].mean(),
        main[main["model"] == "enx"]["score"].mean(),
    )
    assert f"{100 * (a / b - 1):+.1f}%" in gain and f"{100 * (a - b):+.2f}" in gain
    assert gain.split(" | ")[10] == "–"  # an mE5 student, but not the paper protocol
    low, high = (float(v) for v in gain.split("| [")[1].split("]")[0].split(","))
    assert low < 100 * (a - b) < high
    assert "paired bootstrap over evaluation items (BibleBitextMining: 60 items" in summary
    assert "| 0 |" not in gain and "p = 0" not in summary
    # classification: macro-F1 beside accuracy, and the majority-class rate
    cls = _line(summary.split("## Classification")[1], "| s | multiway |")
    assert "| 55.0 |" in cls and "| 45.0 |" in cls  # accuracy, then macro-F1
    assert "| BibleClassification | 1 | 60 | 3 | 50.0 | 33.3 |" in summary
    # every configured language found or named missing
    assert "| BibleBitextMining | test | de zh fr sw | ko | 8 |" in summary
    assert {p.name for p in figures} == {
        "BibleBitextMining-s-differences.png",
        "BibleBitextMining-scores.png",
        "BibleClassification-s-differences.png",
        "BibleClassification-scores.png",
        "gains.png",
    }
    assert all(p.with_suffix(".svg").stat().st_size > 1000 for p in figures)
    assert "![gains](plots/gains.png)" in summary
    page = (root / "r/summary.html").read_text()
    assert page.count("<table>") == summary.count("\n|---") and page.count("data:image/png") == 5
    assert "config sha256: <code>0123456789abcdef</code>" in page and "aria-sort" in page


def test_evaluation_split_only_in_aggregates(tmp_path):
    result = classification_result({"en": 0.6, "de": 0.4}, task="MassiveIntentClassification")
    validation = classification_result({"en": 0.9, "de": 0.9}, task="MassiveIntentClassification")
    result["scores"]["validation"] = validation["scores"]["test"]
    paths = write_results(tmp_path, {"base-s": [(result, None)]})
    report_of(paths, {"base-s": {}}, tmp_path / "r")
    summary = (tmp_path / "r/summary.md").read_text()
    assert _line(summary, "| s | base-s |").startswith("| s | base-s | base | none | 1 | 50.0 |")
    assert "| MassiveIntentClassification | validation | 90.0 |" in summary


def test_identical_models_differ_by_zero_and_p_has_its_resolution():
    result, items = bitext_evaluation(MULTIWAY)
    rows = []
    for model in ("a", "b"):
        for entry in result["scores"]["test"]:
            rows.append(
                {
                    "model": model, "run": model, "student": "s", "data": model, "objective": "x",
                    "seed": 0, "task": "BibleBitextMining", "task_type": "BitextMining",
                    "split": "test", "evaluation": True, "subset": entry["hf_subset"],
                    "language": "-".join("en" if "eng" in x else x[:2] for x in entry["languages"]),
                    "seen": "seen", "metric": "main_score", "score": entry["main_score"],
                }
            )  # fmt: skip
    scores = pd.DataFrame(rows)
    items_by = {("a", "BibleBitextMining"): items, ("b", "BibleBitextMining"): items}
    table = compare_runs(
        scores=scores, run_a="a", run_b="b", items=items_by, settings=Settings(200, 0.95, 1)
    )
    assert (table["diff"] == 0).all() and (table["low"] == 0).all() and (table["p"] == 1).all()
    assert format_p(2 / 201, 2 / 201) == "≤ 0.01" and format_p(0.0, math.nan) == "< 1e-16"


def test_bootstrap_pairs_directions_and_is_seeded(experiment):
    root, paths, meta, results = experiment
    scores, _ = collect_scores(paths, meta)
    items = {(m, "BibleBitextMining"): results[m][0][1] for m in results}
    one = compare_runs(
        scores=scores, run_a="multiway", run_b="enx", items=items, settings=Settings(300, 0.95, 3)
    )
    two = compare_runs(
        scores=scores, run_a="multiway", run_b="enx", items=items, settings=Settings(300, 0.95, 3)
    )
    pd.testing.assert_frame_equal(one, two)
    rows = one[(one["level"] == "language") & (one["task"] == "BibleBitextMining")]
    assert set(rows["language"]) == {"de", "zh", "fr", "sw"}  # one row per pair, not direction
    assert (rows["low"] <= rows["diff"]).all() and (rows["diff"] <= rows["high"]).all()
    assert one["replicates"].eq(300).all()


def test_several_seeds_give_mean_std_and_paired_test(tmp_path):
    results, meta = {}, {}
    for seed, shift in ((0, 0.00), (1, 0.05), (2, 0.02)):
        results[f"multiway-seed{seed}"] = [
            (bitext_evaluation({"de": 0.90 - shift, "fr": 0.80})[0], None)
        ]
        results[f"enx-seed{seed}"] = [
            (bitext_evaluation({"de": 0.85 - shift, "fr": 0.70})[0], None)
        ]
        meta[f"multiway-seed{seed}"] = run_meta("multiway", "multiway", seed, ["de"])
        meta[f"enx-seed{seed}"] = run_meta("enx", "enx", seed, ["de"])
    report_of(write_results(tmp_path, results), meta, tmp_path / "r")
    summary = (tmp_path / "r/summary.md").read_text()
    row = _line(summary, "| s | multiway |")
    assert "| 3 |" in row and " ± " in row
    gain = _line(summary, "| Bitext mining | all |")
    assert gain.rstrip(" |").endswith("seeds") and "[" in gain
    assert "seed k of multiway with seed k of enx, 3 seeds" in summary


@pytest.mark.parametrize(
    ("model_id", "bitext", "sts"),
    [
        ("FacebookAI/xlm-roberta-base", "+21.3%", "+5.3%"),
        ("google-bert/bert-base-multilingual-cased", "+21.3%", "+5.3%"),
        ("intfloat/multilingual-e5-base", "improves (no number)", "–"),
        ("some/other-model", "–", "–"),
    ],
)
def test_paper_gains_only_for_its_students(model_id, bitext, sts):
    assert paper_gain("BitextMining", model_id) == bitext and paper_gain("STS", model_id) == sts


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
    assert info["model_id"] == "intfloat/multilingual-e5-small"
    base = describe_model("base-s", tmp_path / "missing")
    assert (base["run"], base["data"], base["student"]) == ("base-s", "base", "s")


def test_unknown_model_is_named(experiment):
    root, paths, meta, _ = experiment
    del meta["enx"]
    with pytest.raises(ValueError, match="model 'enx' is not in model_meta"):
        collect_scores(paths, meta)


def test_loss_curves_of_every_run_on_one_figure(tmp_path):
    from mwalign.report.plots import loss_plot, read_loss_curve

    curves = {}
    for run, start in (("multiway", 3.0), ("enx", 2.0)):
        path = tmp_path / run / "loss_curve.csv"
        path.parent.mkdir()
        lines = ["step,epoch,loss,learning_rate,grad_norm"]
        lines += [f"{s},{s / 10},{start / s},5e-05,1.0" for s in range(1, 11)]
        path.write_text("\n".join(lines) + "\n")
        curves[run] = path
    assert read_loss_curve(curves["enx"])["loss"].iloc[-1] == pytest.approx(0.2)
    figure = loss_plot(curves, tmp_path / "plots/loss-curves.png")
    assert figure.stat().st_size > 10_000 and figure.with_suffix(".svg").exists()
    assert loss_plot({"none": tmp_path / "missing.csv"}, tmp_path / "x.png") is None


def test_seeds_of_a_run_share_a_colour_and_many_runs_get_distinct_ones(tmp_path):
    """One colour and one legend entry per run (its seeds drawn alike); a grid larger than
    a palette still gets a colour per run, and its legend goes below the axes."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba
    from mwalign.report.plots import LEGEND_INSIDE_MAX, loss_figure

    curves, runs = {}, {}
    for r in range(12):
        for seed in range(2):
            path = tmp_path / f"run{r}-seed{seed}" / "loss_curve.csv"
            path.parent.mkdir()
            rows = [f"{s},{s / 10},{(r + 1) / s},5e-05,1.0" for s in range(1, 6)]
            path.write_text("step,epoch,loss,learning_rate,grad_norm\n" + "\n".join(rows) + "\n")
            curves[path.parent.name], runs[path.parent.name] = path, f"run{r}"
    figure = loss_figure(curves, runs=runs)
    axes = figure.axes[0]
    colour = {line.get_label(): to_rgba(line.get_color()) for line in axes.lines}
    labelled = [label for label in colour if not label.startswith("_")]
    assert labelled == [f"run{r}" for r in range(12)]
    assert len(set(colour[label] for label in labelled)) == 12
    by_run = {}
    for line, model in zip(axes.lines, curves, strict=True):
        by_run.setdefault(runs[model], set()).add(to_rgba(line.get_color()))
    assert all(len(colours) == 1 for colours in by_run.values())
    legend = axes.get_legend()
    assert len(legend.get_texts()) == 12 > LEGEND_INSIDE_MAX
    assert legend.get_bbox_to_anchor().y0 < axes.get_window_extent().y0  # below the axes
    plt.close(figure)


def test_cards_carry_the_folder_card_and_the_headline_scores(experiment):
    from mwalign.report.stats import model_averages

    root, paths, meta, _ = experiment
    folder = root / "models" / "multiway"
    folder.mkdir(parents=True)
    (folder / "mwalign_run.json").write_text(json.dumps(run_meta("multiway", "multiway")))
    (folder / "README.md").write_text("# mwalign multiway\n\nTrained on the multi-way set.\n")
    meta["multiway"] = str(folder)
    out = root / "r"
    build_report(result_paths=paths, model_meta=meta, out_scores=out / "scores.parquet",
                 out_summary=out / "summary.md", out_cards=out / "cards",
                 settings=SETTINGS)  # fmt: skip
    assert sorted(p.name for p in (out / "cards").iterdir()) == ["enx.md", "multiway.md"]
    card = (out / "cards" / "multiway.md").read_text()
    assert card.startswith("# mwalign multiway\n\nTrained on the multi-way set.\n")
    averages = model_averages(read_table(out / "scores.parquet", tables.SCORES).to_pandas())
    for model in ("multiway", "base-s"):  # the run's scores beside its base student's
        mine = averages[(averages["model"] == model) & (averages["task_type"] == "BitextMining")]
        cells = [
            f"{100 * mine.set_index('group')['score'][g]:.1f}" for g in ("all", "seen", "unseen")
        ]
        assert f"| Bitext mining | F1 | `{model}` | {' | '.join(cells)} |" in card
    assert "`enx`" not in card and "`enx`" in (out / "cards" / "enx.md").read_text()


def test_centred_interval_is_scipys_percentile_interval_for_a_mean():
    """A mean is unbiased under resampling: the centred interval is the percentile one."""
    from mwalign.report.compare import centred_interval
    from scipy import stats

    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    replicates = x[rng.integers(0, len(x), size=(20000, len(x)))].mean(axis=1)
    low, high = centred_interval(replicates, float(x.mean()), 0.025)
    plain = stats.bootstrap(
        (x,), np.mean, method="percentile", n_resamples=20000, random_state=1
    ).confidence_interval
    assert low == pytest.approx(plain.low, abs=0.01) and high == pytest.approx(plain.high, abs=0.01)


def test_centred_interval_keeps_the_spread_around_a_point_its_replicates_sit_below():
    from mwalign.report.compare import centred_interval

    rng = np.random.default_rng(1)
    replicates = rng.normal(loc=10.5, scale=0.3, size=5000)  # biased low: the point is 11
    plain = np.quantile(replicates, [0.025, 0.975])
    low, high = centred_interval(replicates, 11.0, 0.025)
    assert low < 11.0 < high and high - low == pytest.approx(plain[1] - plain[0])
    assert (low + high) / 2 == pytest.approx(11.0, abs=0.02)
    assert centred_interval(np.zeros(100), 0.0, 0.025) == (0.0, 0.0)
    assert centred_interval(np.array([np.nan, 1.0, 3.0]), 2.0, 0.0) == (1.0, 3.0)


def test_report_page_shows_raw_html_as_text_and_embeds_only_its_own_pngs(tmp_path):
    """<script> and <img onerror> come out as text; an image path outside the report's
    folder (``..``, absolute, a symlink out) or not a PNG is never read."""
    from mwalign.report.html import markdown_to_html

    report = tmp_path / "report"
    (report / "plots").mkdir(parents=True)
    (report / "plots" / "fig.png").write_bytes(b"\x89PNG own figure")
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"SECRET-BYTES")
    (report / "plots" / "link.png").symlink_to(secret)
    (report / "notes.txt").write_text("not an image")
    text = (
        "<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)>\n\n"
        "![up](../secret.png)\n\n![abs](" + str(secret) + ")\n\n![link](plots/link.png)\n\n"
        "![txt](notes.txt)\n\n![own](plots/fig.png)\n"
    )
    page = markdown_to_html(text, report)
    assert "<script>alert" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    import base64

    assert base64.b64encode(b"SECRET-BYTES").decode() not in page
    assert base64.b64encode(b"not an image").decode() not in page
    assert base64.b64encode(b"\x89PNG own figure").decode() in page
    assert page.count("data:image/png;base64,") == 1
