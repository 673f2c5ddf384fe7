"""Differences between two runs with confidence intervals: over seeds, or a paired bootstrap.

The unit of replication of a method comparison is the training seed:

- Several seeds: the per-seed differences give the mean difference, its s.d., a paired
  t-test and a t interval (:mod:`.intervals`). How the seeds pair is decided in
  :func:`pair_seeds`: seed k of one run against seed k of the other; or one model
  against every seed of the other run, which is exact for a base model (it has no
  training seed) and, for a trained run with one seed, leaves that run's training
  noise out of the interval, so the table says so.
- One seed on both sides: a paired bootstrap over evaluation items. The sentence ids of
  a task are resampled with replacement and both models' scores recomputed on the same
  resample (:mod:`mwalign.evaluate.items`), so the interval of the difference reflects
  evaluation noise only, not training noise. A sentence id is one item for every
  language pair and both directions of a parallel task, and a task whose languages hold
  the same items (:data:`~mwalign.evaluate.items.PARALLEL_ITEM_TASKS`: MASSIVE, SIB-200,
  STS Benchmark, the Bible) draws them jointly across languages; dev and test never mix
  (only the evaluation split is used). F1 of bitext mining is not a mean over items: on
  a resample (sentences duplicated and missing) it is biased low, the more so the weaker
  the model, so a plain percentile interval of a difference to a weak base model lies
  almost entirely below the observed difference (measured on the default experiment:
  +11.1 points, percentile interval [+10.0, +11.2]). The interval is therefore the
  percentile interval of the replicates shifted by their mean bias (centred on the
  observed difference, the spread kept), and the p-value the test that interval
  inverts (:mod:`.intervals`). Efron's bias-corrected (BC) interval was tried and
  rejected: with the point at the 97th percentile of its replicates it returns the
  replicates' top 3% only, an interval a third as wide ([+11.1, +11.5]).

Each comparison is summarised per language of each task and per group (all, seen,
unseen, pairs without English) of each task type, aggregated exactly as
:func:`.stats.model_averages` does: subsets averaged within a task (each language
once), tasks averaged within a type. A task or subset only one side has is left out
and named (``left_out``). Where B is near chance (:func:`.stats.near_chance`) the
relative gain is marked withheld (``gain_withheld``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mwalign.evaluate.items import ITEM_METRICS, prepare, prepared_score, resampling_groups
from mwalign.paths import SOURCE_LANGUAGE
from mwalign.provenance import derive_seed

from .intervals import bootstrap_summary, centred_interval, seed_summary
from .scores import BASE
from .stats import GROUPS, NON_ENGLISH_PAIRS, in_group, main_scores, near_chance, task_mean

log = logging.getLogger(__name__)

__all__ = ["NON_ENGLISH_PAIRS", "centred_interval", "compare_runs", "format_p", "language_key"]

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

    rows: pd.DataFrame  # task, task_type, subset, language, code, seen (of run a)[, chance]
    a: np.ndarray  # (rows, replicates)
    b: np.ndarray
    point_a: np.ndarray  # (rows,) scores on the full data (bootstrap) or seed means
    point_b: np.ndarray
    method: str  # "seeds" | "bootstrap"
    description: str
    one_seed: str = ""  # "A" or "B": that side is one trained seed set against several


@dataclass(frozen=True)
class SeedPairing:
    """How the models of two runs pair: ``seeds`` compared, ``single`` the side ("A" or
    "B") with one model set against every seed of the other ("" when seeds match)."""

    seeds: list[int]
    single: str
    single_is_base: bool


def _models(main: pd.DataFrame, run: str) -> list[str]:
    return list(main.loc[main["run"] == run, "model"].unique())


def _seeds(main: pd.DataFrame, run: str) -> list[int]:
    return sorted(main.loc[main["run"] == run, "seed"].unique())


def pair_seeds(main: pd.DataFrame, run_a: str, run_b: str) -> SeedPairing | None:
    """The seeds over which two runs compare; None when fewer than two pair (one model
    on each side: the bootstrap's case; or several seeds on both sides with < 2 shared)."""
    one_a, one_b = len(_models(main, run_a)) == 1, len(_models(main, run_b)) == 1
    if one_a and one_b:
        return None
    if one_a or one_b:
        single, run = ("B", run_b) if one_b else ("A", run_a)
        seeds = _seeds(main, run_a if one_b else run_b)
        is_base = main.loc[main["run"] == run, "data"].iloc[0] == BASE
        return SeedPairing(seeds, single, is_base) if len(seeds) >= 2 else None
    common = [seed for seed in _seeds(main, run_a) if seed in _seeds(main, run_b)]
    return SeedPairing(common, "", False) if len(common) >= 2 else None


def _seed_matrix(main: pd.DataFrame, run: str, seeds: list[int], single: bool) -> pd.DataFrame:
    """(task, subset) x seeds scores of ``run``; a single model repeated for every seed."""
    part = main[main["run"] == run]
    if single:
        one = part.set_index(["task", "subset"])["score"]
        return pd.DataFrame({seed: one for seed in seeds})
    table = part.pivot_table(index=["task", "subset"], columns="seed", values="score")
    return table.reindex(columns=seeds)


def seed_replicates(main: pd.DataFrame, run_a: str, run_b: str) -> Replicates | None:
    """Per-seed scores of both runs as :func:`pair_seeds` pairs them; None where it does not."""
    pairing = pair_seeds(main, run_a, run_b)
    if pairing is None:
        return None
    seeds, k = pairing.seeds, len(pairing.seeds)
    a = _seed_matrix(main, run_a, seeds, pairing.single == "A")
    b = _seed_matrix(main, run_b, seeds, pairing.single == "B")
    index = a.dropna().index.intersection(b.dropna().index)
    rows = _rows(main, run_a, index)
    one_seed = "" if pairing.single_is_base else pairing.single
    if not pairing.single:
        text = f"seed k of {run_a} with seed k of {run_b}, {k} seeds"
    elif pairing.single_is_base:
        text = f"each of {k} seeds against the one {run_b} model"
    else:
        single, many = (run_b, run_a) if pairing.single == "B" else (run_a, run_b)
        text = (
            f"each of {k} seeds of {many} against {single}, which has one: "
            f"{pairing.single} is one training seed, so its training noise is not in the "
            "interval"
        )
    a, b = a.loc[index].to_numpy(), b.loc[index].to_numpy()
    return Replicates(rows, a, b, a.mean(1), b.mean(1), "seeds", f"over seeds ({text})", one_seed)


def _rows(main: pd.DataFrame, run: str, index: pd.MultiIndex) -> pd.DataFrame:
    info = main[main["run"] == run].drop_duplicates(["task", "subset"])
    info = info.set_index(["task", "subset"]).loc[index].reset_index()
    info["code"] = info["language"].map(language_key)
    return info[["task", "task_type", "subset", "language", "code", "seen"]]


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


def _task_replicates(task, kind, subsets, pair, settings) -> tuple[np.ndarray, np.ndarray, str]:
    """(subsets, resamples) replicates of A and B on one task, drawn alike; and a note."""
    groups, note = resampling_groups(task, pair[0])
    ia, ib = (frame.assign(group=frame["subset"].map(groups)) for frame in pair)
    draws = _draws(ia, task, settings)
    return _resampled(ia, kind, subsets, draws), _resampled(ib, kind, subsets, draws), note


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
        ra = rb = np.full((len(subsets), settings.resamples), np.nan)
        if pair[0] is not None and pair[1] is not None and kind in ITEM_METRICS:
            pair = tuple(frame[frame["split"] == split] for frame in pair)
            if set(subsets) <= set(pair[0]["subset"]) & set(pair[1]["subset"]):
                ra, rb, note = _task_replicates(task, kind, subsets, pair, settings)
                count = pair[0].groupby("group")["item"].nunique().max()
                sizes.append(f"{task}: {count} items" + (f", {note}" if note else ""))
        if np.isnan(ra).all():
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
        "difference, p the test it inverts): evaluation noise only, one training seed"
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
    """Mean over the masked subsets of each task (each language once, :func:`task_mean`),
    then over tasks: (replicates,) or scalar."""
    per_task = []
    for task in rows.loc[mask, "task"].unique():
        inside = mask & (rows["task"] == task).to_numpy()
        per_task.append(task_mean(values[inside], list(rows.loc[inside, "language"])))
    return np.mean(per_task, axis=0)


def _summary(a, b, point_a, point_b, method: str, settings: Settings) -> dict:
    level = (1 - settings.confidence) / 2
    summary = seed_summary if method == "seeds" else bootstrap_summary
    return summary(a, b, point_a, point_b, level)


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
        for group in GROUPS:
            mask = (rows["task_type"] == kind).to_numpy() & in_group(rows, group)
            if mask.any():
                out.append(_one(rep, mask, settings, "aggregate", rows, "", "", group))
    return pd.DataFrame(out)


def _one(rep, mask, settings, level, rows, task, code, group) -> dict:
    values = [_aggregate(x, rows, mask) for x in (rep.a, rep.b, rep.point_a, rep.point_b)]
    chance = rows["chance"].fillna(0.0) if "chance" in rows else pd.Series(0.0, rows.index)
    chance = float(_aggregate(chance.to_numpy(float), rows, mask))
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
        "chance": chance,
        "gain_withheld": near_chance(float(values[3]), chance),
        "method": rep.method,
        "one_seed": rep.one_seed,
        "confidence": settings.confidence,
        "replicates": rep.a.shape[1],
        "description": rep.description,
    }


def left_out(main: pd.DataFrame, run_a: str, run_b: str, compared: pd.DataFrame) -> list[str]:
    """What the comparison dropped: per task, the subsets one side lacks (or lacks a seed of)."""
    notes = []
    have = {
        run: main.loc[main["run"] == run].groupby("task")["subset"].unique()
        for run in (run_a, run_b)
    }
    done = set(zip(compared["task"], compared["subset"], strict=True)) if len(compared) else set()
    for task in dict.fromkeys([*have[run_a].index, *have[run_b].index]):
        subsets = {run: set(have[run].get(task, [])) for run in (run_a, run_b)}
        every = subsets[run_a] | subsets[run_b]
        for run, other in ((run_a, run_b), (run_b, run_a)):
            only = sorted(subsets[run] - subsets[other])
            if only and not subsets[other]:
                notes.append(f"{task} ({len(only)} subsets) only in {run}")
            elif only:
                listed = ", ".join(only)
                notes.append(
                    f"{task}: {len(only)} of {len(every)} subsets only in {run} ({listed})"
                )
        incomplete = sorted(s for s in subsets[run_a] & subsets[run_b] if (task, s) not in done)
        if incomplete:
            notes.append(f"{task}: {', '.join(incomplete)} lack a seed on one side")
    return notes


def compare_runs(
    *,
    scores: pd.DataFrame,
    run_a: str,
    run_b: str,
    items: dict[tuple[str, str], pd.DataFrame],
    settings: Settings,
    chance: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Summaries of run_a − run_b (see :func:`summarise`); empty when nothing is comparable.

    ``chance``: the chance level of each (task, subset) (columns task, subset, chance),
    for withholding relative gains over a baseline near chance; missing ones count as 0.
    """
    main = main_scores(scores)
    rep = seed_replicates(main, run_a, run_b)
    if rep is None:
        models_a, models_b = _models(main, run_a), _models(main, run_b)
        if len(models_a) != 1 or len(models_b) != 1:
            log.warning("%s vs %s: seeds do not pair; no comparison", run_a, run_b)
            return pd.DataFrame()
        rep = bootstrap_replicates(
            main=main, model_a=models_a[0], model_b=models_b[0], items=items, settings=settings
        )
    if rep.rows.empty:
        return pd.DataFrame()
    if chance is not None and not chance.empty:
        levels = chance[["task", "subset", "chance"]].drop_duplicates(["task", "subset"])
        rep.rows = rep.rows.merge(levels, on=["task", "subset"], how="left")
    dropped = "; ".join(left_out(main, run_a, run_b, rep.rows))
    return summarise(rep, settings).assign(run_a=run_a, run_b=run_b, left_out=dropped)


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
