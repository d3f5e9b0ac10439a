"""The overoptimisation fits recover known coefficients from synthetic curves (issue: within 5%)."""
import math

import numpy as np
import pytest

from prefzoo.findings.fit import fit_form, predict


@pytest.mark.parametrize("form,alpha,beta", [("bon", 1.2, 0.3), ("bon", 0.5, 0.05), ("rl", 0.9, 0.25),
                                             ("rl", 2.0, 0.6)])
def test_recovers_alpha_beta_within_5_percent(form, alpha, beta):
    rng = np.random.default_rng(0)
    d = np.linspace(0.1, 4.0, 40)
    r = predict(form, d, alpha, beta) + rng.normal(0, 0.01, d.shape)
    fit = fit_form(form, d, r)
    assert abs(fit.alpha - alpha) / alpha < 0.05
    assert abs(fit.beta - beta) / beta < 0.05
    # the standard errors are honest: the truth is within 4 of them, and they are small but not zero
    assert abs(fit.alpha - alpha) < 4 * fit.alpha_se and 0 < fit.alpha_se < 0.05
    assert fit.r2 > 0.99 and fit.rmse < 0.02


def test_peak_location():
    fit = fit_form("bon", [0.5, 1.0, 2.0, 3.0], predict("bon", [0.5, 1.0, 2.0, 3.0], 1.0, 0.25))
    assert fit.d_peak == pytest.approx(2.0) and fit.r_peak == pytest.approx(1.0)
    fit = fit_form("rl", [0.5, 1.0, 2.0, 3.0], predict("rl", [0.5, 1.0, 2.0, 3.0], 1.0, 0.5))
    assert fit.d_peak == pytest.approx(math.e)  # alpha - beta (log d + 1) = 0


def test_no_peak_when_gold_keeps_rising_and_wrong_form_fits_worse():
    d = np.linspace(0.2, 3.0, 20)
    rising = fit_form("bon", d, 0.8 * d)
    assert rising.d_peak is None or rising.d_peak > 3.0
    r = predict("rl", d, 1.0, 0.6)
    assert fit_form("rl", d, r).rmse < 1e-9 < fit_form("bon", d, r).rmse


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="at least 3"):
        fit_form("bon", [1.0, 2.0], [0.1, 0.2])
    with pytest.raises(ValueError, match="unknown form"):
        fit_form("quadratic", [1.0, 2.0, 3.0], [0.1, 0.2, 0.3])
