"""Interval, p-value and relative gain of a difference between two runs, each pair of
interval and p-value computed from one distribution.

- Over seeds (K paired scores a_k, b_k): the differences d_k = a_k − b_k give the mean,
  a t interval and a paired t-test, so the interval excludes 0 at level 1 − α exactly
  when p < α. The relative gain is the one printed beside the two scores, the ratio of
  the seed means 100 (Ā / B̄ − 1); its interval is the delta-method t interval of that
  ratio, centred on it: with r = Ā / B̄, se(r) = sd_k(a_k − r b_k) / (B̄ √K) (the
  linearisation of a ratio of paired means). Where B is one model (the same b for every
  seed) this is the t interval of the per-seed gains.
- Paired bootstrap (R replicates of a − b): the replicates are shifted so that their
  mean is the observed difference (:func:`centred_interval`, see
  :mod:`mwalign.report.compare` for why), the interval is their percentile interval, and
  p is that interval inverted (:func:`centred_p`): twice the smaller share of the
  shifted replicates on either side of 0, read off the same interpolated quantile
  function, so again the interval excludes 0 at level 1 − α exactly when p < α. p is
  never reported below 2 / (R + 1), the bootstrap's resolution (printed "≤"). The
  relative gain's replicates are centred the same way on the observed gain.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .stats import relative_gain


def centred_interval(replicates: np.ndarray, point: float, level: float) -> tuple[float, float]:
    """Percentile interval of bootstrap ``replicates`` shifted so that their mean is
    ``point``, with ``level`` in each tail (0.025 for 95%); NaN replicates left out.

    Equal to the percentile interval where the statistic is unbiased under resampling
    (a mean); where resampling biases it (F1 of mining, see :mod:`.compare`) the
    interval keeps the replicates' spread around the observed value.
    """
    shifted = _centred(replicates, point)
    if shifted is None:
        return math.nan, math.nan
    return float(np.quantile(shifted, level)), float(np.quantile(shifted, 1 - level))


def centred_p(replicates: np.ndarray, point: float, floor: float = 0.0) -> float:
    """Two-sided p-value of "no difference" that :func:`centred_interval` inverts.

    With Q the quantile function of the centred replicates (numpy's default linear
    interpolation, as the interval uses), p = 2 min(sup{q: Q(q) ≤ 0}, 1 − inf{q: Q(q) ≥ 0}),
    at most 1 and at least ``floor``: the smallest 2 × tail level whose interval still
    reaches 0. Identical runs (every replicate 0) give 1.
    """
    shifted = _centred(replicates, point)
    if shifted is None:
        return math.nan
    values = np.sort(shifted)
    below = _level_reaching(values, 0.0, side="right")
    above = 1.0 - _level_reaching(values, 0.0, side="left")
    return max(floor, min(1.0, 2.0 * min(below, above)))


def _centred(replicates: np.ndarray, point: float) -> np.ndarray | None:
    values = replicates[np.isfinite(replicates)]
    if not len(values) or not math.isfinite(point):
        return None
    return values - (values.mean() - point)


def _level_reaching(values: np.ndarray, x: float, side: str) -> float:
    """Inverse of the linear-interpolation quantile function of sorted ``values`` at ``x``:
    sup{q: Q(q) ≤ x} with ``side="right"``, inf{q: Q(q) ≥ x} with ``side="left"``."""
    n = len(values)
    k = int(np.searchsorted(values, x, side=side))  # values ≤ x (right) or < x (left)
    if k == 0:
        return 0.0
    if k == n:
        return 1.0
    low, high = values[k - 1], values[k]
    return ((k - 1) + (x - low) / (high - low)) / (n - 1)


def seed_summary(a: np.ndarray, b: np.ndarray, point_a: float, point_b: float, level: float):
    """Difference, t interval, paired t-test and ratio gain of K paired seed scores.

    ``a``, ``b``: (K,) scores; ``point_a``, ``point_b``: their means as aggregated;
    ``level``: the mass in each tail (0.025 for 95%).
    """
    diffs = a - b
    k = len(diffs)
    half = stats.t.ppf(1 - level, k - 1) / math.sqrt(k)
    sd = float(np.std(diffs, ddof=1))
    # identical differences on every seed (up to rounding): no spread, no t-test
    spread = sd > 1e-12 * max(1.0, abs(float(diffs.mean())))
    p = float(stats.ttest_1samp(diffs, 0.0).pvalue) if spread else math.nan
    gain = relative_gain(point_a, point_b)
    gain_half = math.nan
    if math.isfinite(gain):
        ratio = point_a / point_b
        gain_half = 100 * half * float(np.std(a - ratio * b, ddof=1)) / abs(point_b)
    return {
        "diff": float(diffs.mean()),
        "sd": sd,
        "low": float(diffs.mean() - half * sd),
        "high": float(diffs.mean() + half * sd),
        "gain": gain,
        "gain_low": gain - gain_half,
        "gain_high": gain + gain_half,
        "p": p,
        "p_floor": math.nan,
    }


def bootstrap_summary(a: np.ndarray, b: np.ndarray, point_a: float, point_b: float, level: float):
    """Difference, centred percentile interval, its p-value and gain of R paired replicates.

    ``a``, ``b``: (R,) replicates (NaN: no per-item outputs, no interval); ``point_a``,
    ``point_b``: the scores on the full data; ``level``: the mass in each tail.
    """
    diff = point_a - point_b
    gain = relative_gain(point_a, point_b)
    diffs = a - b
    if np.isnan(diffs).any():
        nan = math.nan
        return dict(
            diff=float(diff), sd=nan, low=nan, high=nan, gain=gain,
            gain_low=nan, gain_high=nan, p=nan, p_floor=nan,
        )  # fmt: skip
    gains = 100 * diffs / np.where(b == 0, np.nan, b)
    floor = 2 / (len(diffs) + 1)
    low, high = centred_interval(diffs, float(diff), level)
    gain_low, gain_high = centred_interval(gains, float(gain), level)
    return {
        "diff": float(diff),
        "sd": float(np.std(diffs, ddof=1)) if len(diffs) > 1 else math.nan,
        "low": low,
        "high": high,
        "gain": gain,
        "gain_low": gain_low,
        "gain_high": gain_high,
        "p": centred_p(diffs, float(diff), floor),
        "p_floor": floor,
    }
