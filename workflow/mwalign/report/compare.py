"""Differences between two runs with confidence intervals: over seeds, or a paired bootstrap.

The unit of replication of a method comparison is the training seed:

- Several seeds (both runs, matched by seed: seed k of one run against seed k of the
  other; a base model, which has no seed, is compared with every seed): the per-seed
  differences give the mean difference, its s.d., a paired t-test and a t interval.
- One seed: a paired bootstrap over evaluation items. The sentence ids of a task are
  resampled with replacement and both models' scores recomputed on the same resample
  (:mod:`mwalign.evaluate.items`), so the interval of the difference reflects
  evaluation noise only, not training noise. A sentence id is one item for every
  language pair and both directions of a parallel task; dev and test never mix (only
  the evaluation split is used). F1 of bitext mining is not a mean over items: on a
  resample (sentences duplicated and missing) it is biased low, the more so the weaker
  the model, so a plain percentile interval of a difference to a weak base model lies
  almost entirely below the observed difference (measured on the default experiment:
  +11.1 points, percentile interval [+10.0, +11.2]). The interval is therefore the
  percentile interval of the replicates shifted by their mean bias (centred on the
  observed difference, the spread kept). Efron's bias-corrected (BC) interval was tried
  and rejected: with the point at the 97th percentile of its replicates it returns the
  replicates' top 3% only, an interval a third as wide ([+11.1, +11.5]).

Each comparison is summarised per language of each task and per subset group (all,
seen, unseen) of each task type, aggregated exactly as :func:`.stats.model_averages`
does: subsets averaged within a task, tasks averaged within a type.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from mwalign.evaluate.items import ITEM_METRICS, prepare, prepared_score
from mwalign.paths import SOURCE_LANGUAGE
from mwalign.provenance import derive_seed

from .stats import SUBSETS, main_scores, relative_gain

log = logging.getLogger(__name__)

NON_ENGLISH_PAIRS = "pairs without English"
P_RESOLUTION = 1e-16


def language_key(language: str) -> str:
    """Row key of a subset: its non-English language; one shared key for X-Y pairs."""
    codes = {c for c in language.split("-") if c != SOURCE_LANGUAGE}
    if len(codes) > 1:
        return NON_ENGLISH_PAIRS
    return codes.pop() if codes else SOURCE_LANGUAGE


@dataclass(frozen=True)
class Settings:
    resamples: int
    confidence: float
    seed: int


@dataclass
class Replicates:
    """Scores of two runs on the same rows (task, subset), one column per replicate."""

    rows: pd.DataFrame  # task, task_type, subset, code, seen (of run a)
    a: np.ndarray  # (rows, replicates)
    b: np.ndarray
    point_a: np.ndarray  # (rows,) scores on the full data (bootstrap) or seed means
    point_b: np.ndarray
    method: str  # "seeds" | "bootstrap"
    description: str


def _seed_matrix(main: pd.DataFrame, models: list[str], seeds: list[int]) -> pd.DataFrame:
    part = main[main["model"].isin(models)]
    table = part.pivot_table(index=["task", "subset"], columns="seed", values="score")
    return table.reindex(columns=seeds)


def seed_replicates(main: pd.DataFrame, run_a: str, run_b: str) -> Replicates | None:
    """Per-seed scores of both runs, matched by seed; None unless run_a has >= 2 seeds."""
    seeds_a = sorted(main.loc[main["run"] == run_a, "seed"].unique())
    seeds_b = sorted(main.loc[main["run"] == run_b, "seed"].unique())
    if len(seeds_a) < 2:
        return None
    base_b = len(seeds_b) == 1 and len(main.loc[main["run"] == run_b, "model"].unique()) == 1
    common = seeds_a if base_b else [s for s in seeds_a if s in seeds_b]
    if len(common) < 2:
        return None
    a = _seed_matrix(main, list(main.loc[main["run"] == run_a, "model"].unique()), common)
    b_models = list(main.loc[main["run"] == run_b, "model"].unique())
    if base_b:
        single = main[main["model"] == b_models[0]].set_index(["task", "subset"])["score"]
        b = pd.DataFrame({seed: single for seed in common})
    else:
        b = _seed_matrix(main, b_models, common)
    index = a.dropna().index.intersection(b.dropna().index)
    rows = _rows(main, run_a, index)
    pairing = (
        f"each of {len(common)} seeds against the one {run_b} model"
        if base_b
        else f"seed k of {run_a} with seed k of {run_b}, {len(common)} seeds"
    )
    a, b = a.loc[index].to_numpy(), b.loc[index].to_numpy()
    return Replicates(rows, a, b, a.mean(1), b.mean(1), "seeds", f"over seeds ({pairing})")


def _rows(main: pd.DataFrame, run: str, index: pd.MultiIndex) -> pd.DataFrame:
    info = main[main["run"] == run].drop_duplicates(["task", "subset"])
    info = info.set_index(["task", "subset"]).loc[index].reset_index()
    info["code"] = info["language"].map(language_key)
    return info[["task", "task_type", "subset", "code", "seen"]]


def _draws(items: pd.DataFrame, task: str, settings: Settings) -> dict[str, np.ndarray]:
    """Resampling counts per group: (resamples, items of the group), the same for every model."""
    draws = {}
    for group, part in items.groupby("group", sort=True):
        size = int(part["item"].max()) + 1
        rng = np.random.default_rng(derive_seed(settings.seed, "report", "bootstrap", task, group))
        picks = rng.integers(0, size, size=(settings.resamples, size))
        draws[group] = np.stack([np.bincount(row, minlength=size) for row in picks]).astype(float)
    return draws


def _resampled(items: pd.DataFrame, kind: str, subsets: list[str], draws: dict) -> np.ndarray:
    """(subsets, resamples) main scores of one model on every resample."""
    metric = ITEM_METRICS[kind][0]
    out = np.empty((len(subsets), next(iter(draws.values())).shape[0]))
    for i, subset in enumerate(subsets):
        rows = items[items["subset"] == subset]
        counts = draws[rows["group"].iloc[0]]
        prepared = prepare(kind, rows)
        out[i] = [prepared_score(kind, metric, prepared, weights) for weights in counts]
    return out


def bootstrap_replicates(
    *,
    main: pd.DataFrame,
    model_a: str,
    model_b: str,
    items: dict[tuple[str, str], pd.DataFrame],
    settings: Settings,
) -> Replicates:
    """Paired bootstrap of two single models over the items of every task.

    A task without per-item outputs of both models keeps its point scores and gets no
    interval (NaN replicates), and so does every aggregate it is part of.
    """
    run_a = main.loc[main["model"] == model_a, "run"].iloc[0]
    rows, a, b, point_a, point_b, sizes = [], [], [], [], [], []
    for task in main.loc[main["model"] == model_a, "task"].unique():
        part = main[main["task"] == task]
        kind, split = part["task_type"].iloc[0], part["split"].iloc[0]
        scored = part.pivot_table(index="subset", columns="model", values="score")
        if model_b not in scored:
            continue
        subsets = list(scored[[model_a, model_b]].dropna().index)
        pair = items.get((model_a, task)), items.get((model_b, task))
        nan = np.full((len(subsets), settings.resamples), np.nan)
        ra, rb = nan, nan
        if pair[0] is not None and pair[1] is not None and kind in ITEM_METRICS:
            ia, ib = (frame[frame["split"] == split] for frame in pair)
            if set(subsets) <= set(ia["subset"]) & set(ib["subset"]):
                draws = _draws(ia, task, settings)
                ra = _resampled(ia, kind, subsets, draws)
                rb = _resampled(ib, kind, subsets, draws)
                sizes.append(f"{task}: {ia.groupby('group')['item'].nunique().max()} items")
        if ra is nan:
            log.warning("%s: no per-item outputs of %s and %s; no interval", task, model_a, model_b)
            sizes.append(f"{task}: no per-item outputs, no interval")
        a.append(ra)
        b.append(rb)
        point_a.append(scored.loc[subsets, model_a].to_numpy())
        point_b.append(scored.loc[subsets, model_b].to_numpy())
        index = pd.MultiIndex.from_product([[task], subsets], names=["task", "subset"])
        rows.append(_rows(main[main["model"] == model_a], run_a, index))
    description = (
        f"paired bootstrap over evaluation items ({'; '.join(sizes)}; "
        f"{settings.resamples} resamples; percentile interval centred on the observed "
        "difference): "
        "evaluation noise only, one training seed"
    )
    return Replicates(
        pd.concat(rows, ignore_index=True),
        np.concatenate(a),
        np.concatenate(b),
        np.concatenate(point_a),
        np.concatenate(point_b),
        "bootstrap",
        description,
    )


def _aggregate(values: np.ndarray, rows: pd.DataFrame, mask: np.ndarray) -> np.ndarray:
    """Mean over the masked subsets of each task, then over tasks: (replicates,) or scalar."""
    per_task = [
        values[mask & (rows["task"] == task).to_numpy()].mean(0)
        for task in rows.loc[mask, "task"].unique()
    ]
    return np.mean(per_task, axis=0)


def centred_interval(replicates: np.ndarray, point: float, level: float) -> tuple[float, float]:
    """Percentile interval of bootstrap ``replicates`` shifted so that their mean is
    ``point``, with ``level`` in each tail (0.025 for 95%); NaN replicates left out.

    Equal to the percentile interval where the statistic is unbiased under resampling
    (a mean); where resampling biases it (F1 of mining, see the module docstring) the
    interval keeps the replicates' spread around the observed value.
    """
    values = replicates[np.isfinite(replicates)]
    if not len(values) or not math.isfinite(point):
        return math.nan, math.nan
    shifted = values - (values.mean() - point)
    return float(np.quantile(shifted, level)), float(np.quantile(shifted, 1 - level))


def _summary(a, b, point_a, point_b, method: str, settings: Settings) -> dict:
    level = (1 - settings.confidence) / 2
    diff = point_a - point_b
    gain = relative_gain(point_a, point_b)
    if method == "seeds":
        diffs, gains = a - b, 100 * (a - b) / b
        k = len(diffs)
        half = stats.t.ppf(1 - level, k - 1) / math.sqrt(k)
        sd = float(np.std(diffs, ddof=1))
        # identical differences on every seed (up to rounding): no spread, no t-test
        spread = sd > 1e-12 * max(1.0, abs(float(diffs.mean())))
        p = float(stats.ttest_1samp(diffs, 0.0).pvalue) if spread else math.nan
        gain_sd = float(np.std(gains, ddof=1))
        return {
            "diff": float(diffs.mean()),
            "sd": sd,
            "low": float(diffs.mean() - half * sd),
            "high": float(diffs.mean() + half * sd),
            "gain": gain,
            "gain_low": float(gains.mean() - half * gain_sd),
            "gain_high": float(gains.mean() + half * gain_sd),
            "p": p,
            "p_floor": math.nan,
        }
    diffs, gains = a - b, 100 * (a - b) / np.where(b == 0, np.nan, b)
    resamples = len(diffs)
    if np.isnan(diffs).any():
        nan = math.nan
        return dict(
            diff=float(diff),
            sd=nan,
            low=nan,
            high=nan,
            gain=gain,
            gain_low=nan,
            gain_high=nan,
            p=nan,
            p_floor=nan,
        )
    below, above = int((diffs <= 0).sum()), int((diffs >= 0).sum())
    p = min(1.0, 2 * (min(below, above) + 1) / (resamples + 1))
    low, high = centred_interval(diffs, float(diff), level)
    gain_low, gain_high = centred_interval(gains, float(gain), level)
    return {
        "diff": float(diff),
        "sd": float(np.std(diffs, ddof=1)),
        "low": low,
        "high": high,
        "gain": gain,
        "gain_low": gain_low,
        "gain_high": gain_high,
        "p": p,
        "p_floor": 2 / (resamples + 1),
    }


def summarise(rep: Replicates, settings: Settings) -> pd.DataFrame:
    """Rows per (task, language) and per (task type, group): difference, CI, gain, p."""
    out = []
    rows = rep.rows
    for task in rows["task"].unique():
        for code in rows.loc[rows["task"] == task, "code"].unique():
            mask = ((rows["task"] == task) & (rows["code"] == code)).to_numpy()
            seen = "/".join(sorted(set(rows.loc[mask, "seen"])))
            out.append(_one(rep, mask, settings, "language", rows, task, code, seen))
    for kind in rows["task_type"].unique():
        for group in SUBSETS:
            mask = (rows["task_type"] == kind).to_numpy()
            if group != "all":
                mask = mask & (rows["seen"] == group).to_numpy()
            if mask.any():
                out.append(_one(rep, mask, settings, "aggregate", rows, "", "", group))
    return pd.DataFrame(out)


def _one(rep, mask, settings, level, rows, task, code, group) -> dict:
    values = [_aggregate(x, rows, mask) for x in (rep.a, rep.b, rep.point_a, rep.point_b)]
    kind = rows.loc[mask, "task_type"].iloc[0]
    return {
        "level": level,
        "task_type": kind,
        "task": task,
        "language": code,
        "group": group,
        "a": float(values[2]),
        "b": float(values[3]),
        **_summary(*values, rep.method, settings),
        "method": rep.method,
        "confidence": settings.confidence,
        "replicates": rep.a.shape[1],
        "description": rep.description,
    }


def compare_runs(
    *,
    scores: pd.DataFrame,
    run_a: str,
    run_b: str,
    items: dict[tuple[str, str], pd.DataFrame],
    settings: Settings,
) -> pd.DataFrame:
    """Summaries of run_a − run_b (see :func:`summarise`); empty when nothing is comparable."""
    main = main_scores(scores)
    rep = seed_replicates(main, run_a, run_b)
    if rep is None:
        models_a = main.loc[main["run"] == run_a, "model"].unique()
        models_b = main.loc[main["run"] == run_b, "model"].unique()
        if len(models_a) != 1 or len(models_b) != 1:
            log.warning("%s vs %s: seeds do not pair; no comparison", run_a, run_b)
            return pd.DataFrame()
        rep = bootstrap_replicates(
            main=main, model_a=models_a[0], model_b=models_b[0], items=items, settings=settings
        )
    if rep.rows.empty:
        return pd.DataFrame()
    return summarise(rep, settings).assign(run_a=run_a, run_b=run_b)


def format_p(p: float, floor: float) -> str:
    """A p-value as text; at the bootstrap's resolution ``≤ floor``, never ``0``.

    A t-test's p below double precision's resolution reads ``< 1e-16``.
    """
    if not math.isfinite(p):
        return "–"
    if p < P_RESOLUTION:
        return f"< {P_RESOLUTION:g}"
    if math.isfinite(floor) and p <= floor * (1 + 1e-9):
        return f"≤ {floor:.2g}"
    return f"{p:.2g}"
