"""Ingestion: read a dataset root (docs/data-contract.md) into clean tables plus a report.

Only the DataSource protocol is used (list_files, read_bytes), so a local folder and an S3
prefix behave the same. This module sorts the files by role (yieldflow.contract's layout)
and reads farms.csv and harvests.csv; the sensor files, nearly all of the data, are checked
in batches by yieldflow.sensor_batches. A file that cannot be parsed is reported and
skipped, a bad row or value goes to the quarantine table with its reason, and the
accounting identity rows_read = rows_accepted + rows_quarantined + duplicate_rows_dropped
is checked on every run, so nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from yieldflow import validation as v
from yieldflow.contract import (
    FARM_COLUMNS,
    FARMS_FILE,
    HARVEST_COLUMNS,
    HARVESTS_FILE,
    PLANNED_SEASONS_FILE,
    SENSOR_SUFFIXES,
    SENSORS_DIR,
)
from yieldflow.ingest_parse import FileParseError, check_columns, read_table
from yieldflow.ingest_run import Findings, IngestionAccounting, IngestionError, bad_records
from yieldflow.sensor_batches import SensorFiles, load_readings
from yieldflow.storage import DataSource

__all__ = [
    "IngestionAccounting",
    "IngestionError",
    "IngestionResult",
    "ingest_dataset",
    "write_quarantine_report",
]

LAYOUT_REASON = "not part of the dataset layout"


@dataclass
class IngestionResult:
    """Clean tables, the quarantine (one row per event, see validation) and the findings."""

    readings: pd.DataFrame
    harvests: pd.DataFrame
    farms: pd.DataFrame
    quarantine: pd.DataFrame
    accounting: IngestionAccounting
    notes: list[str] = field(default_factory=list)

    def summary(self, top: int = 10) -> dict:
        """JSON-able digest for logs and run metadata: counts, top reasons, notes."""
        reasons = self.quarantine["reason"].value_counts().head(top)
        scopes = self.quarantine["scope"].value_counts()
        return {
            **asdict(self.accounting),
            "quarantine_entries": len(self.quarantine),
            "quarantine_by_scope": {str(k): int(n) for k, n in scopes.items()},
            "top_quarantine_reasons": {str(k): int(n) for k, n in reasons.items()},
            "notes": list(self.notes),
        }


@dataclass
class _Layout:
    farms: str | None = None
    harvests: str | None = None
    sensors: list[tuple[str, str]] = field(default_factory=list)  # (key, folder farm_id)
    ignored: list[str] = field(default_factory=list)


def ingest_dataset(source: DataSource, now: pd.Timestamp | None = None) -> IngestionResult:
    """Read, validate and account for a whole dataset root.

    `now` (default: the current UTC time; naive means UTC) bounds timestamps: a reading
    from the future is a clock fault. An empty cell in a column the file has is an event
    (reason "empty"); an optional column the file lacks is simply missing, not an event.
    Raises IngestionError when harvests.csv or farms.csv cannot be read, or when no sensor
    reading survives.
    """
    now = _as_utc(now)
    layout = _classify(source.list_files())
    run = Findings()
    for key in layout.ignored:
        run.file_entry(key, LAYOUT_REASON)
        run.notes.append(f"{key}: ignored, {LAYOUT_REASON}")
    run.accounting.files_ignored = len(layout.ignored)
    if layout.harvests is None:
        raise IngestionError(f"{HARVESTS_FILE}: not found in {source.uri} (labels are required)")
    sensor_files = SensorFiles(source, layout.sensors)  # from S3: downloads start now
    try:
        farms = _load_farms(source, layout.farms, run)
        timezones = _timezones(farms)
        harvests = _load_harvests(source, layout.harvests, farms, run)
        readings = load_readings(sensor_files, timezones, now, run)
    finally:
        sensor_files.close()
    farms = _complete_farms(farms, readings, harvests, run)
    quarantine = pd.concat(run.found, ignore_index=True)
    quarantine = quarantine.sort_values(["file", "line"], kind="stable").reset_index(drop=True)
    run.accounting.check()
    return IngestionResult(readings, harvests, farms, quarantine, run.accounting, run.notes)


def write_quarantine_report(result: IngestionResult, path: str | Path) -> Path:
    """Write the quarantine table as CSV so a person can fix the source exports."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    result.quarantine.to_csv(path, index=False, columns=list(v.QUARANTINE_COLUMNS))
    return path


def _timezones(farms: pd.DataFrame | None) -> dict[str, str]:
    """farm_id -> IANA name, for the farms whose naive timestamps are local time."""
    if farms is None:
        return {}
    given = farms.dropna(subset=["timezone"])
    return dict(zip(given["farm_id"], given["timezone"], strict=True))


def _as_utc(now: pd.Timestamp | None) -> pd.Timestamp:
    if now is None:
        return pd.Timestamp.now(tz="UTC")
    now = pd.Timestamp(now)
    return now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")


def _classify(keys: list[str]) -> _Layout:
    """Sort the listing into the contract's layout; everything else is ignored (reported)."""
    layout = _Layout()
    for key in keys:
        parts = PurePosixPath(key).parts
        if key == FARMS_FILE:
            layout.farms = key
        elif key == HARVESTS_FILE:
            layout.harvests = key
        elif key == PLANNED_SEASONS_FILE:
            continue
        elif (
            len(parts) == 3
            and parts[0] == SENSORS_DIR
            and PurePosixPath(key).suffix.lower() in SENSOR_SUFFIXES
        ):
            layout.sensors.append((key, parts[1]))
        else:
            layout.ignored.append(key)
    return layout


def _load_farms(source: DataSource, key: str | None, run: Findings) -> pd.DataFrame | None:
    if key is None:
        run.notes.append(f"{FARMS_FILE}: absent; farms derived from sensors and harvests")
        return None
    table, malformed = _load_table(source, key, ("farm_id",), FARM_COLUMNS, run)
    farms, found = v.check_farms(table.reindex(columns=[*FARM_COLUMNS, "_line", "_file"]))
    run.found += [malformed.assign(scope="farm"), found]
    return farms


def _load_harvests(
    source: DataSource, key: str, farms: pd.DataFrame | None, run: Findings
) -> pd.DataFrame:
    table, malformed = _load_table(source, key, HARVEST_COLUMNS, HARVEST_COLUMNS, run)
    known = None if farms is None else set(farms["farm_id"])
    harvests, found = v.check_harvests(table, known)
    run.found += [malformed.assign(scope="harvest"), found]
    acc = run.accounting
    acc.harvest_rows_read = len(table) + len(malformed)
    acc.harvest_rows_accepted = len(harvests)
    acc.harvest_rows_quarantined = len(found) + len(malformed)
    return harvests


def _load_table(source, key, required, known, run: Findings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """farms.csv / harvests.csv: a run cannot go on without them, so failure is fatal."""
    try:
        table, piece = read_table(source, key)
        run.note_extra(key, check_columns(piece.names, required, known))
    except FileParseError as exc:
        raise IngestionError(f"{key}: {exc}") from None
    return table.assign(_file=key), bad_records([piece])


def _complete_farms(farms, readings, harvests, run: Findings) -> pd.DataFrame:
    """Note farms that cannot train (no labels / no sensors); build farms if none given."""
    sensed, labelled = set(readings["farm_id"].unique()), set(harvests["farm_id"].unique())
    for farm in sorted(sensed - labelled):
        run.notes.append(f"farm {farm!r}: sensor readings but no valid harvest rows")
    for farm in sorted(labelled - sensed):
        run.notes.append(f"farm {farm!r}: harvest rows but no accepted sensor readings")
    if farms is not None:
        for farm in sorted(sensed - set(farms["farm_id"])):
            run.notes.append(f"farm {farm!r}: sensor readings but not listed in {FARMS_FILE}")
        return farms
    ids = pd.Series(sorted(sensed | labelled), dtype=str)
    missing = pd.Series(np.nan, index=ids.index, dtype=str)
    return pd.DataFrame(
        {
            "farm_id": ids,
            "name": missing,
            "latitude": np.nan,
            "longitude": np.nan,
            "soil_type": "unknown",
            "irrigated": False,
            "timezone": missing,
        }
    )[list(FARM_COLUMNS)]
