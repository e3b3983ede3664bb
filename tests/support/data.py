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
