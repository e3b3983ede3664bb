"""Small tables with known structure for the unit tests."""

from __future__ import annotations

import pandas as pd

from yieldflow.features.seasons import NUMERIC_FEATURES, TARGET


def feature_table(seasons=(2020, 2021, 2022, 2023), farms=3) -> pd.DataFrame:
    rows = []
    for s in seasons:
        for f in range(farms):
            row = {c: float(s - 2000 + f) for c in NUMERIC_FEATURES}
            row.update(
                farm_id=f"F{f}",
                season=s,
                crop="Maize" if s < 2023 else "Sorghum",
                soil_type="Loam",
                **{TARGET: float(s - 2015)},
            )
            rows.append(row)
    return pd.DataFrame(rows)


def backtest(**overrides) -> dict:
    """summary["backtest"] as the forecast-honesty work (issue 20) writes it."""
    values = {
        "interval_coverage": 0.85,
        "covered": 17,
        "harvests": 20,
        "nominal": 0.8,
        "seasons": [2023, 2024],
        "champion_rmse": 0.9,
        "best_simple_rmse": 0.95,
        "best_simple_model": "farm_mean",
        "relative_error_vs_simple": 0.9 / 0.95 - 1,
    }
    return {**values, **overrides}
