"""Calibrated intervals hold their coverage; a too-narrow one is caught by the same test."""

import numpy as np
import pandas as pd
import pytest

from yieldflow.ml.intervals import backtest_coverage, calibrate, log_residuals, recent_residuals


def forecasts_with_known_truth(seasons: int = 30, farms: int = 12, sigma: float = 0.2):
    """Predictions whose truth is prediction × exp(noise), noise ~ N(0, sigma): the true
    80% interval is prediction × exp(±1.2816 sigma)."""
    rng = np.random.default_rng(3)
    rows = []
    for season in range(2000, 2000 + seasons):
        predicted = rng.uniform(2.0, 50.0, farms)  # soybean to potato scale
        truth = predicted * np.exp(rng.normal(0, sigma, farms))
        rows += [
            {"season": season, "y_true": t, "y_pred": p}
            for t, p in zip(truth, predicted, strict=True)
        ]
    return pd.DataFrame(rows)


def coverage_holds(fraction: float) -> bool:
    return 0.72 <= fraction <= 0.88


def test_calibrated_80_percent_intervals_cover_72_to_88_percent_over_many_seasons():
    predictions = forecasts_with_known_truth()
    seasons = list(range(2005, 2030))
    coverage = backtest_coverage(predictions, seasons)
    assert coverage.harvests == 25 * 12
    assert coverage_holds(coverage.fraction), coverage.fraction
    assert "covered" in coverage.sentence() and f"of {coverage.harvests}" in coverage.sentence()


def test_a_too_narrow_interval_fails_the_same_check():
    predictions = forecasts_with_known_truth()
    narrow = backtest_coverage(predictions, list(range(2005, 2030)), level=0.4)
    assert not coverage_holds(narrow.fraction)


def test_each_season_is_calibrated_only_on_the_seasons_before_it():
    predictions = forecasts_with_known_truth(seasons=3)
    later = predictions["season"] == 2002
    predictions.loc[later, "y_true"] *= 100  # a later disaster cannot widen 2001's interval
    coverage = backtest_coverage(predictions, [2001, 2002])
    assert coverage.per_season[2001][0] >= 8
    assert coverage.per_season[2002][0] == 0
    assert 2000 not in coverage.per_season  # nothing before it to calibrate on


def test_conformal_ranks_and_the_guarantee():
    residuals = np.log(np.arange(1, 20) / 10.0)  # 19 residuals
    interval = calibrate(residuals)
    # (n+1)·0.1 = 2 → 2nd smallest; ⌈(n+1)·0.9⌉ = 18 → 18th smallest
    assert interval.low_ratio == pytest.approx(0.2) and interval.high_ratio == pytest.approx(1.8)
    assert interval.guaranteed
    assert not calibrate(residuals[:5]).guaranteed
    np.testing.assert_allclose(log_residuals(np.array([2.0]), np.array([1.0])), [np.log(2)])


def test_the_calibration_window_keeps_only_the_latest_folds():
    predictions = forecasts_with_known_truth(seasons=10)
    early = predictions["season"] < 2003
    predictions.loc[early, "y_true"] *= 3.0  # models trained on 2-3 seasons err more
    wide = calibrate(recent_residuals(predictions, before=2009))
    recent = calibrate(recent_residuals(predictions, before=2009, window=5))
    assert recent.high_ratio < wide.high_ratio  # the early misses no longer widen it
    assert recent.residuals == 5 * 12
