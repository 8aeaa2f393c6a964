"""The intervals ``compare`` shows, without scipy: Student's t for means, Wilson for rates.

- a mean's 95% interval is Student's t: mean ± t(0.975, n-1) · s/√n (n ≥ 2, else missing);
- a rate (a column whose values are all 0 or 1: a bool score, completion) gets the Wilson
  score interval, which stays inside [0, 1] and is sound at 0/n and n/n;
- a paired difference (a model minus the baseline, on the same input and repeat) is the t
  interval of the differences (the paired t interval).

The t quantile comes from the regularized incomplete beta function (a continued fraction,
as in Numerical Recipes §6.4) inverted by bisection; the tests check every number against
scipy.stats and statsmodels.
"""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import Sequence

CONFIDENCE = 0.95


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_ppf(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (bisection on ``t_cdf``, to machine precision)."""
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low <= 1e-15 * max(1.0, high):
            break
    return (low + high) / 2.0


def _clean(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student's t interval of the mean; (nan, nan) for fewer than 2 values."""
    xs = _clean(values)
    n = len(xs)
    if n < 2:
        return math.nan, math.nan
    mean = sum(xs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_ppf(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    return mean - half, mean + half


def wilson_interval(successes: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a rate ``successes / n``; (nan, nan) when n is 0."""
    if n <= 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes <= 0 else max(0.0, centre - half)  # exact at 0/n and n/n, as
    high = 1.0 if successes >= n else min(1.0, centre + half)  # the formula is, not rounded
    return low, high


def is_rate(values: Sequence[float]) -> bool:
    """Whether every value is 0 or 1 (a bool score, a completion): a rate, not a mean."""
    xs = _clean(values)
    return bool(xs) and all(x in (0.0, 1.0) for x in xs)


def interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The interval ``compare`` shows for a column of one group: Wilson for a rate, else t."""
    xs = _clean(values)
    if is_rate(xs):
        return wilson_interval(sum(xs), len(xs), confidence)
    return mean_interval(xs, confidence)
