"""Agreement statistics: bias, limits of agreement, MAE, R², ICC(2,1) with bootstrap
intervals; Dice and Hausdorff distance of masks. Pure numpy.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

NAN = float("nan")


# --------------------------------------------------------------------------- statistics
@dataclass(frozen=True)
class Agreement:
    """Agreement of paired predictions with reference values (same units).

    ``r2`` is the coefficient of determination of the predictions taken as they are,
    ``1 - sum((pred - truth)^2) / sum((truth - mean(truth))^2)``: it is 1 only for exact
    agreement and can be negative (it is not the squared Pearson correlation, which ignores
    bias and scale). ``bias`` = mean(pred - truth); ``loa_low/high`` = bias ∓ 1.96 SD of the
    differences (Bland & Altman 1986). ``icc`` is ICC(2,1): two-way random effects, absolute
    agreement, single measurement (Shrout & Fleiss 1979 "ICC(2,1)"; McGraw & Wong 1996
    "ICC(A,1)"), with pred and truth as the two raters. ``pct_within_10`` is the percentage of
    cases with |pred - truth| <= 10 % of |truth|. ``*_ci`` are bootstrap 95 % percentile
    intervals (cases resampled with replacement, seeded). Statistics that need more data than
    given are NaN.
    """

    n: int
    r2: float
    mae: float
    bias: float
    sd_diff: float
    loa_low: float
    loa_high: float
    pearson_r: float
    icc: float
    pct_within_10: float
    r2_ci: tuple[float, float] = (NAN, NAN)
    mae_ci: tuple[float, float] = (NAN, NAN)
    bias_ci: tuple[float, float] = (NAN, NAN)
    icc_ci: tuple[float, float] = (NAN, NAN)
    n_boot: int = 0
    seed: int = 0


def _as_pairs(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(truth, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"pred and truth must have the same length, not {p.size} and {t.size}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(t))):
        raise ValueError("pred and truth must be finite; drop refused or missing values before agreement()")
    return p, t


def _r2_rows(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Coefficient of determination along the last axis (arrays (..., n))."""
    ss_res = np.sum((p - t) ** 2, axis=-1)
    ss_tot = np.sum((t - t.mean(axis=-1, keepdims=True)) ** 2, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.nan)


def _icc21_rows(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """ICC(2,1) with two raters along the last axis (arrays (..., n)); see :func:`icc_2_1`."""
    n = p.shape[-1]
    k = 2
    if n < 2:
        return np.full(p.shape[:-1], np.nan)
    grand = (p.mean(axis=-1) + t.mean(axis=-1)) / 2.0
    subj = (p + t) / 2.0
    ss_rows = k * np.sum((subj - grand[..., None]) ** 2, axis=-1)
    ss_cols = n * ((p.mean(axis=-1) - grand) ** 2 + (t.mean(axis=-1) - grand) ** 2)
    ss_total = np.sum((p - grand[..., None]) ** 2, axis=-1) + np.sum((t - grand[..., None]) ** 2, axis=-1)
    ss_err = ss_total - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    den = msr + (k - 1) * mse + k * (msc - mse) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (msr - mse) / np.where(den > 0, den, 1.0), np.nan)


def icc_2_1(ratings: np.ndarray) -> float:
    """ICC(2,1) of an (n subjects, k raters) table: two-way random, absolute agreement, single rater.

    ``(MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)`` with MSR, MSC, MSE the mean squares
    of subjects (rows), raters (columns) and residual of the two-way ANOVA without replication
    (Shrout & Fleiss 1979, Table 2; McGraw & Wong 1996 ICC(A,1)).
    """
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"ratings must be an (n>=2 subjects, k>=2 raters) table, not shape {x.shape}")
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((x.mean(axis=0) - grand) ** 2)
    ss_err = np.sum((x - grand) ** 2) - ss_rows - ss_cols
    msr, msc = ss_rows / (n - 1), ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    den = msr + (k - 1) * mse + k * (msc - mse) / n
    return float((msr - mse) / den) if den > 0 else NAN


def _percentile_ci(values: np.ndarray) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size < max(10, values.size // 2):
        return (NAN, NAN)
    lo, hi = np.percentile(v, [2.5, 97.5])
    return (float(lo), float(hi))


def agreement(pred: np.ndarray, truth: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> Agreement:
    """Agreement statistics of paired ``pred`` and ``truth`` (1-D, same length, finite).

    See :class:`Agreement` for the definitions. ``n_boot=0`` skips the bootstrap.
    """
    p, t = _as_pairs(pred, truth)
    n = int(p.size)
    if n == 0:
        return Agreement(0, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, n_boot=n_boot, seed=seed)
    d = p - t
    bias = float(d.mean())
    sd = float(d.std(ddof=1)) if n >= 2 else NAN
    pearson = NAN
    if n >= 2 and p.std() > 0 and t.std() > 0:
        pearson = float(np.corrcoef(p, t)[0, 1])
    within = float(100.0 * np.mean(np.abs(d) <= 0.10 * np.abs(t)))
    r2_ci = mae_ci = bias_ci = icc_ci = (NAN, NAN)
    if n_boot > 0 and n >= 3:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_boot, n))
        bp, bt = p[idx], t[idx]
        bd = bp - bt
        r2_ci = _percentile_ci(_r2_rows(bp, bt))
        mae_ci = _percentile_ci(np.abs(bd).mean(axis=1))
        bias_ci = _percentile_ci(bd.mean(axis=1))
        icc_ci = _percentile_ci(_icc21_rows(bp, bt))
    return Agreement(
        n=n, r2=float(_r2_rows(p, t)) if n >= 2 else NAN, mae=float(np.abs(d).mean()), bias=bias,
        sd_diff=sd, loa_low=bias - 1.96 * sd, loa_high=bias + 1.96 * sd, pearson_r=pearson,
        icc=float(_icc21_rows(p, t)), pct_within_10=within,
        r2_ci=r2_ci, mae_ci=mae_ci, bias_ci=bias_ci, icc_ci=icc_ci, n_boot=n_boot, seed=seed)


# --------------------------------------------------------------------------- masks
def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient 2|A∩B| / (|A| + |B|) of two boolean masks of one shape; 1.0 when both are empty."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"masks must have the same shape, not {a.shape} and {b.shape}")
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else float(2.0 * np.logical_and(a, b).sum() / total)


def _boundary(m: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return m & ~ndimage.binary_erosion(m, structure=np.ones((3, 3), bool), border_value=0)


def hausdorff_mm(a: np.ndarray, b: np.ndarray, mm_per_px: float | tuple[float, float] = 1.0) -> float:
    """Symmetric Hausdorff distance between the boundaries of two boolean masks.

    Boundary pixels are mask pixels with a background 8-neighbour (or on the image edge). The
    distance from each boundary pixel of one mask to the nearest boundary pixel of the other comes
    from a Euclidean distance transform with ``sampling=mm_per_px`` (one value, or (row, col)
    spacing); the result is the largest such distance either way, in mm (pixels when
    ``mm_per_px=1``). 0.0 when both masks are empty, ``inf`` when only one is.
    """
    from scipy import ndimage

    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"masks must have the same shape, not {a.shape} and {b.shape}")
    if not a.any() and not b.any():
        return 0.0
    if not a.any() or not b.any():
        return math.inf
    ba, bb = _boundary(a), _boundary(b)
    sampling: tuple[object, ...]
    if np.isscalar(mm_per_px):
        sampling = (mm_per_px, mm_per_px)
    elif isinstance(mm_per_px, Iterable):
        sampling = tuple(mm_per_px)
    else:
        raise TypeError(f"mm_per_px must be a number or a (row, col) pair, not {mm_per_px!r}")
    da = ndimage.distance_transform_edt(~ba, sampling=sampling)
    db = ndimage.distance_transform_edt(~bb, sampling=sampling)
    return float(max(da[bb].max(), db[ba].max()))
