"""The faults real loggers make, injected on purpose: gaps, sentinels, out-of-range
values, re-exported (duplicate) files and shuffled rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from yieldflow.contract import LOGGER_SENTINELS, SENSOR_VALUE_COLUMNS

# Implausible values a misbehaving sensor writes (the "humidity 140" kind).
_OUT_OF_RANGE: dict[str, tuple[float, ...]] = {
    "air_temp_c": (75.3, -71.0),
    "rainfall_mm": (-1.5, 612.0),
    "relative_humidity_pct": (140.0, -4.0),
    "soil_moisture_pct": (112.5, -2.0),
    "soil_temp_c": (85.0, -45.5),
    "solar_radiation_wm2": (1850.0, -20.0),
    "wind_speed_ms": (99.0, -1.0),
}

_SENTINEL_RATE = 0.002  # share of sensor values replaced by a logger sentinel or left empty

_SHUFFLE_FILE_SHARE = 0.25


@dataclass(frozen=True)
class FaultCounts:
    """How many of each logger fault were injected (all zero when faults=False)."""

    sentinel_values: int = 0  # cells written as -9999, -999, 9999 or left empty
    empty_values: int = 0  # of which left empty
    out_of_range_values: int = 0  # cells outside the contract's physical range
    gaps: int = 0  # logger-offline periods of 1-4 days
    gap_rows_removed: int = 0  # readings missing because of those gaps
    reexport_files: int = 0  # <YYYY-MM>-reexport.csv files
    duplicate_rows: int = 0  # rows in re-export files (exact copies of month-file rows)
    shuffled_files: int = 0  # files whose rows are out of time order


def inject_gaps(
    frame: pd.DataFrame, rng: np.random.Generator, interval_minutes: int, counts: dict[str, int]
) -> pd.DataFrame:
    """Logger offline 1-4 days: at most two per season, one in each half, so growing
    windows (≥ 95 days) always keep well over 85% of their hours."""
    steps_per_day = 1440 // interval_minutes
    season = frame["season"].to_numpy()
    keep = np.ones(len(frame), dtype=bool)
    years = np.unique(season)
    per_season = rng.choice([0, 1, 2], size=len(years), p=[0.35, 0.45, 0.2])
    if per_season.sum() == 0:
        per_season[rng.integers(len(years))] = 1  # every farm has at least one gap
    for year, n_gaps in zip(years.tolist(), per_season.tolist(), strict=True):
        rows = np.flatnonzero(season == year)
        halves = np.array_split(rows, n_gaps) if n_gaps else []
        for half in halves:
            length = int(rng.integers(24, 97) * steps_per_day // 24)
            if len(half) <= length + 2:
                continue
            begin = int(rng.integers(1, len(half) - length - 1))
            keep[half[begin : begin + length]] = False
            counts["gaps"] += 1
            counts["gap_rows_removed"] += length
    return frame.loc[keep].reset_index(drop=True)


def inject_bad_values(
    frame: pd.DataFrame, rng: np.random.Generator, counts: dict[str, int]
) -> None:
    """Sentinels (and empty cells) at ~0.2% of values, plus a handful out of range."""
    columns = list(SENSOR_VALUE_COLUMNS)
    n_cells = len(frame) * len(columns)
    n_sentinel = round(_SENTINEL_RATE * n_cells)
    n_bad = int(rng.integers(2, 6))
    cells = rng.choice(n_cells, size=min(n_cells, n_sentinel + n_bad), replace=False)
    rows, cols = np.divmod(cells, len(columns))
    choices = np.array([*LOGGER_SENTINELS, np.nan])
    picks = rng.integers(len(choices), size=n_sentinel)
    for c, name in enumerate(columns):
        values = frame[name].to_numpy(copy=True)
        mine = cols[:n_sentinel] == c
        values[rows[:n_sentinel][mine]] = choices[picks[mine]]
        bad = cols[n_sentinel:] == c
        options = np.array(_OUT_OF_RANGE[name])
        values[rows[n_sentinel:][bad]] = options[rng.integers(len(options), size=int(bad.sum()))]
        frame[name] = values
    counts["sentinel_values"] += n_sentinel
    counts["empty_values"] += int(np.isnan(choices[picks]).sum())
    counts["out_of_range_values"] += len(cells) - n_sentinel


def inject_file_faults(
    files: list[tuple[str, pd.DataFrame]],
    rng: np.random.Generator,
    interval_minutes: int,
    counts: dict[str, int],
) -> list[tuple[str, pd.DataFrame]]:
    """A re-exported ~10 days of one month (exact copies), and shuffled row blocks."""
    steps_per_day = 1440 // interval_minutes
    span = 10 * steps_per_day
    candidates = [i for i, (_, part) in enumerate(files) if len(part) >= span]
    if not candidates:
        candidates = [int(np.argmax([len(part) for _, part in files]))]
    chosen = candidates[int(rng.integers(len(candidates)))]
    name, part = files[chosen]
    begin = int(rng.integers(0, max(1, len(part) - span + 1)))
    reexport = part.iloc[begin : begin + span]
    counts["reexport_files"] += 1
    counts["duplicate_rows"] += len(reexport)

    shuffle = rng.random(len(files)) < _SHUFFLE_FILE_SHARE
    if not shuffle.any():
        shuffle[int(rng.integers(len(files)))] = True
    result: list[tuple[str, pd.DataFrame]] = []
    for (month, data), scramble in zip(files, shuffle.tolist(), strict=True):
        if scramble and len(data) >= 4:
            data = data.iloc[_block_permutation(rng, len(data), steps_per_day)]
            counts["shuffled_files"] += 1
        result.append((month, data))
    result.append((f"{name}-reexport", reexport))
    return result


def _block_permutation(rng: np.random.Generator, n: int, steps_per_day: int) -> np.ndarray:
    """Row order after moving blocks of 0.5-3 days around (never the identity)."""
    block = max(2, int(rng.integers(steps_per_day // 2, 3 * steps_per_day + 1)))
    edges = np.arange(0, n, block)
    if len(edges) < 2:
        edges = np.array([0, n // 2])
    order = rng.permutation(len(edges))
    if (order == np.arange(len(order))).all():
        order = order[::-1]
    ends = np.r_[edges[1:], n]
    return np.concatenate([np.arange(edges[i], ends[i]) for i in order])
