"""The baselines a crop scientist asks for first: what each crop, or each farm growing that
crop, has yielded before. A model that does not beat these has learnt nothing from the
sensors beyond the crop it is told."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from yieldflow.features.seasons import TARGET


@dataclass
class HistoricalMean:
    """Mean past yield per group (``keys``), falling back along ``fallbacks`` for a group
    never seen: farm×crop → crop → every harvest."""

    keys: tuple[str, ...]
    fallbacks: tuple[tuple[str, ...], ...] = ()
    means: dict[tuple[str, ...], pd.Series] = field(default_factory=dict)
    overall: float = float("nan")

    def fit(self, table: pd.DataFrame) -> HistoricalMean:
        if table.empty:
            raise ValueError("a historical mean needs at least one harvest")
        for keys in (self.keys, *self.fallbacks):
            self.means[keys] = table.groupby(list(keys))[TARGET].mean()
        self.overall = float(table[TARGET].mean())
        return self

    def predict(self, table: pd.DataFrame) -> np.ndarray:
        predicted = np.full(len(table), np.nan)
        for keys in (self.keys, *self.fallbacks):
            columns = list(keys)
            lookup = self.means[keys].rename("mean").reset_index().astype({c: str for c in columns})
            rows = table[columns].astype(str).merge(lookup, on=columns, how="left")
            predicted = np.where(np.isnan(predicted), rows["mean"].to_numpy(float), predicted)
        return np.where(np.isnan(predicted), self.overall, predicted)


def crop_mean() -> HistoricalMean:
    return HistoricalMean(keys=("crop",))


def farm_crop_mean() -> HistoricalMean:
    """Each farm's mean for the crop; the crop's mean for a farm new to that crop."""
    return HistoricalMean(keys=("farm_id", "crop"), fallbacks=(("crop",),))


def farm_mean() -> HistoricalMean:
    """Each farm's mean over whatever it grew (rotations make this a weak baseline)."""
    return HistoricalMean(keys=("farm_id",))
