"""The functional forms of reward-model overoptimisation (Gao, Schulman & Hilton 2022, arXiv 2210.10760,
eqs. 1-2), fitted by least squares.

With d = sqrt(KL(pi || pi_init)) and R(d) the gold reward gained over the initial policy:
    best-of-n:  R_bon(d) = d (alpha_bon - beta_bon d)
    RL:         R_RL(d)  = d (alpha_RL  - beta_RL log d)
Both are linear in (alpha, beta) with no intercept (R(0) = 0), so ordinary least squares on the design
columns [d, -d^2] (best-of-n) or [d, -d log d] (RL) gives the estimates, and sigma^2 (X^T X)^-1 with
sigma^2 = RSS / (n - 2) their standard errors. The gold peaks at d* = alpha / (2 beta) (best-of-n) and
d* = exp(alpha / beta - 1) (RL) when beta > 0.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

FORMS = ("bon", "rl")


@dataclass
class Fit:
    form: str              # "bon" | "rl"
    alpha: float
    beta: float
    alpha_se: float
    beta_se: float
    n: int                 # points fitted
    rmse: float            # root mean squared residual
    r2: float              # 1 - RSS / TSS (about the mean of R)
    d_peak: float | None   # where the fitted gold peaks (None when beta <= 0: no peak)
    r_peak: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def predict(form: str, d, alpha: float, beta: float) -> np.ndarray:
    """R(d) of the form with these coefficients (R(0) = 0)."""
    d = np.asarray(d, dtype=float)
    return d * alpha - beta * _second_column(form, d)


def _second_column(form: str, d: np.ndarray) -> np.ndarray:
    if form == "bon":
        return d * d
    if form == "rl":  # d log d -> 0 as d -> 0
        return np.where(d > 0, d * np.log(np.where(d > 0, d, 1.0)), 0.0)
    raise ValueError(f"unknown form {form!r}; expected one of {FORMS}")


def fit_form(form: str, d, r) -> Fit:
    """Least-squares (alpha, beta) of ``form`` to gold gains ``r`` at distances ``d`` (>= 3 points)."""
    d = np.asarray(d, dtype=float)
    r = np.asarray(r, dtype=float)
    if d.shape != r.shape or d.ndim != 1:
        raise ValueError(f"d and r must be 1-D and the same length, got {d.shape} and {r.shape}")
    keep = np.isfinite(d) & np.isfinite(r) & (d >= 0)
    d, r = d[keep], r[keep]
    if len(d) < 3:
        raise ValueError(f"need at least 3 finite points with d >= 0 to fit two coefficients, got {len(d)}")
    x = np.stack([d, -_second_column(form, d)], axis=1)
    coef, *_ = np.linalg.lstsq(x, r, rcond=None)
    resid = r - x @ coef
    rss = float(resid @ resid)
    sigma2 = rss / (len(d) - 2) if len(d) > 2 else float("nan")
    try:
        cov = sigma2 * np.linalg.inv(x.T @ x)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    except np.linalg.LinAlgError:  # all d equal: the two columns are collinear
        se = np.array([float("nan"), float("nan")])
    tss = float(((r - r.mean()) ** 2).sum())
    alpha, beta = float(coef[0]), float(coef[1])
    d_peak = _peak(form, alpha, beta)
    r_peak = float(predict(form, d_peak, alpha, beta)) if d_peak is not None else None
    return Fit(form, alpha, beta, float(se[0]), float(se[1]), len(d), math.sqrt(rss / len(d)),
               1.0 - rss / tss if tss > 0 else float("nan"), d_peak, r_peak)


def _peak(form: str, alpha: float, beta: float) -> float | None:
    if beta <= 0:
        return None
    if form == "bon":
        return alpha / (2.0 * beta)
    exponent = alpha / beta - 1.0
    return math.exp(exponent) if exponent < 50 else None
