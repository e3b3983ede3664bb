"""Clean base datasets to damage, and small helpers to edit their files line by line.

The bases are generated once per test session without the generator's logger faults, so a
clean base ingests with an empty quarantine and no notes: whatever a case finds in the
quarantine report was put there by that case's one kind of damage.
"""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

import pandas as pd

from yieldflow.contract import SENSOR_VALUE_COLUMNS

NOW = pd.Timestamp("2025-01-01T00:00:00Z")  # "now" for every ingestion: 2026 is the future
SEED = 11
FIRST_SEASON = 2021
SENSOR_HEADER = ",".join(("farm_id", "timestamp", *SENSOR_VALUE_COLUMNS))
# The file most cases damage: farm F02 (no timezone in farms.csv: timestamps end in Z),
# June 2022, inside the F02 2022 growing window; 720 hourly rows on lines 2..721.
TARGET = "sensors/F02/2022-06.csv"
TARGET_LINE = 100


@cache
def _generated(seasons: int, where: str) -> Path:
    from yieldflow.synthetic import generate_dataset

    root = Path(where) / f"base-{seasons}-seasons"
    generate_dataset(
        root, farms=3, seasons=seasons, seed=SEED, first_season=FIRST_SEASON, faults=False
    )
    return root


def base_dataset(seasons: int, cache_dir: Path) -> Path:
    """A clean generated dataset (3 farms, `seasons` seasons from 2021), made once."""
    return _generated(seasons, str(cache_dir))


def copy_dataset(base: Path, dest: Path) -> Path:
    shutil.copytree(base, dest)
    return dest


def read_lines(root: Path, key: str) -> list[str]:
    """The file's physical lines (line n of the file is item n - 1)."""
    return (root / key).read_text(encoding="utf-8").splitlines()


def write_lines(root: Path, key: str, lines: list[str]) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def append_lines(root: Path, key: str, *lines: str) -> int:
    """Append lines; returns the line number of the first one."""
    current = read_lines(root, key)
    write_lines(root, key, [*current, *lines])
    return len(current) + 1


def data_rows(root: Path, key: str) -> int:
    return len(read_lines(root, key)) - 1


def cell(root: Path, key: str, line: int, column: str) -> str:
    lines = read_lines(root, key)
    return lines[line - 1].split(",")[lines[0].split(",").index(column)]


def set_cell(root: Path, key: str, line: int, column: str, raw: str) -> str:
    """Overwrite one cell of a quote-free CSV file; returns the value it had."""
    lines = read_lines(root, key)
    index = lines[0].split(",").index(column)
    cells = lines[line - 1].split(",")
    old, cells[index] = cells[index], raw
    lines[line - 1] = ",".join(cells)
    write_lines(root, key, lines)
    return old


def find_line(root: Path, key: str, **match: str) -> int:
    """The line number of the first row whose columns equal the given values."""
    lines = read_lines(root, key)
    header = lines[0].split(",")
    for number, text in enumerate(lines[1:], start=2):
        cells = text.split(",")
        if all(cells[header.index(c)] == value for c, value in match.items()):
            return number
    raise LookupError(f"{key}: no row with {match}")


def season_files(root: Path, season: int) -> list[str]:
    """Sensor files (YYYY-MM.csv) that hold a season's readings: from a month before
    planting (the generator's lead) to the harvest month, for every farm."""
    harvests = pd.read_csv(root / "harvests.csv", parse_dates=["planting_date", "harvest_date"])
    keys = []
    for row in harvests[harvests["season"] == season].itertuples():
        start = (row.planting_date - pd.Timedelta(days=32)).to_period("M")
        end = (row.harvest_date + pd.Timedelta(days=1)).to_period("M")
        months = pd.period_range(start, end, freq="M")
        keys += [
            f"sensors/{row.farm_id}/{month}.csv"
            for month in months
            if (root / f"sensors/{row.farm_id}/{month}.csv").exists()
        ]
    return sorted(keys)
