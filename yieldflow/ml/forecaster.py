"""The champion that forecasts: one model per point of the season, each refitted on every
harvested season with its features cut at that point, each with its calibrated interval.

It also remembers what it has seen (crops, soils, which sensors were measured), so a farm
it cannot speak for is refused with a reason instead of being encoded as zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from yieldflow.config import BaselineConfig, TrainingConfig
from yieldflow.features.seasons import NUMERIC_FEATURES
from yieldflow.ml.intervals import ConformalInterval
from yieldflow.ml.recipes import FittedModel, fit_model

# Features that describe the plan, not a sensor: never missing, never "unseen".
PLAN_FEATURES = ("season_length_days", "irrigated", "sensor_coverage")
SENSOR_FEATURES = tuple(f for f in NUMERIC_FEATURES if f not in PLAN_FEATURES)


@dataclass
class PointModel:
    point: float  # fraction of the growing window its features cover (1.0 = harvest)
    model: FittedModel
    interval: ConformalInterval
    reason: str  # why this model at this point (e.g. the mean, when nothing beat it)


@dataclass
class SeasonForecaster:
    points: dict[float, PointModel]
    seasons: list[int]  # harvest seasons every point model learnt from
    crops: list[str]
    soils: list[str]
    always_measured: list[str] = field(default_factory=list)  # in every training harvest
    never_measured: list[str] = field(default_factory=list)  # in no training harvest

    @classmethod
    def describe(cls, points: dict[float, PointModel], table: pd.DataFrame) -> SeasonForecaster:
        measured = [f for f in SENSOR_FEATURES if table[f].notna().all()]
        unmeasured = [f for f in SENSOR_FEATURES if table[f].isna().all()]
        return cls(
            points=dict(sorted(points.items())),
            seasons=sorted(int(s) for s in table["season"].unique()),
            crops=sorted(table["crop"].astype(str).unique()),
            soils=sorted(table["soil_type"].astype(str).unique()),
            always_measured=measured,
            never_measured=unmeasured,
        )

    @property
    def model(self) -> str:
        """The model used at harvest (what the registry version is named for)."""
        return self.points[max(self.points)].model.kind

    def refusal(self, row: pd.Series) -> str | None:
        """Why this farm's features are outside what the champion learnt from, or None."""
        if str(row["crop"]) not in self.crops:
            return (
                f"crop {row['crop']} was never in the champion's training harvests "
                f"({', '.join(self.crops)})"
            )
        if str(row["soil_type"]) not in self.soils:
            return (
                f"soil {row['soil_type']} was never in the champion's training harvests "
                f"({', '.join(self.soils)})"
            )
        missing = [f for f in self.always_measured if pd.isna(row[f])]
        if missing:
            return (
                f"no readings for {', '.join(missing)}, which every training harvest had: "
                "the champion never learnt without them"
            )
        return None

    def predict(self, point: float, features: pd.DataFrame) -> np.ndarray:
        """Yields in t/ha. A sensor the champion never saw measured is left out (set to
        missing, as in every training harvest), not fed to weights that never learnt it."""
        usable = features.assign(**{f: np.nan for f in self.never_measured})
        return self.points[point].model.predict(usable)


def fit_forecaster(
    tables: dict[float, pd.DataFrame],
    chosen: dict[float, tuple[str, ConformalInterval, str]],
    training: TrainingConfig,
    baselines: BaselineConfig,
    seed: int,
) -> SeasonForecaster:
    """Each point's chosen model (kind, interval, reason) refitted on every harvested
    season of that point's feature table."""
    points = {
        point: PointModel(
            point=point,
            model=fit_model(kind, tables[point], training, baselines, seed),
            interval=interval,
            reason=reason,
        )
        for point, (kind, interval, reason) in chosen.items()
    }
    return SeasonForecaster.describe(points, tables[1.0])
