"""Ingestion: read a dataset root (docs/data-contract.md) into clean tables plus a report.

Only the DataSource protocol is used (list_files, read_bytes), so a local folder and an S3
prefix behave the same. This module sorts the files by role (yieldflow.contract's layout),
checks each file (yieldflow.ingest.read) and reads farms.csv and harvests.csv; the sensor
files, nearly all of the data, are checked by one DuckDB run (yieldflow.ingest.sensor_query),
which reads local files where they are and objects from S3 once downloaded to a temporary
folder. A file that cannot be parsed is reported and skipped, a bad row or value goes to
the quarantine table with its reason, and the accounting identity rows_read =
rows_accepted + rows_quarantined + duplicate_rows_dropped is checked on every run, so
nothing is dropped silently.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from yieldflow.contract import (
    FARM_COLUMNS,
    FARMS_FILE,
    HARVEST_COLUMNS,
    HARVESTS_FILE,
    PLANNED_SEASONS_FILE,
    REQUIRED_SENSOR_COLUMNS,
    SENSOR_SUFFIXES,
    SENSORS_DIR,
)
from yieldflow.ingest import validation as v
from yieldflow.ingest.accounting import Findings, IngestionAccounting, IngestionError
from yieldflow.ingest.read import FileParseError, SourceFile, check_columns, open_file
from yieldflow.ingest.sensor_query import SENSOR_COLUMNS_KNOWN, check_sensor_files
from yieldflow.io.source import DataSource
from yieldflow.io.storage import read_files

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
class Layout:
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
    now = as_utc(now)
    layout = classify_files(source.list_files())
    run = start_findings(layout, source)
    # From S3 the first downloads start now, while farms.csv and harvests.csv are read.
    contents = read_files(source, [key for key, _ in layout.sensors])
    try:
        farms = load_farms(source, layout.farms, run)
        timezones = farm_timezones(farms)
        harvests = load_harvests(source, layout.harvests, farms, run)
        with tempfile.TemporaryDirectory(prefix="yieldflow-ingest-") as downloads:
            opened = open_sensors(source, layout.sensors, contents, Path(downloads), run)
            readings = _check_sensors(opened, timezones, now, run)
    finally:
        close = getattr(contents, "close", None)
        if close is not None:
            close()
    farms = complete_farms(farms, readings, harvests, run)
    quarantine = pd.concat(run.found, ignore_index=True)
    quarantine = quarantine.sort_values(["file", "line"], kind="stable").reset_index(drop=True)
    run.accounting.check()
    return IngestionResult(readings, harvests, farms, quarantine, run.accounting, run.notes)


def start_findings(layout: Layout, source: DataSource) -> Findings:
    """The findings a run starts from: every ignored file reported; no harvests.csv stops it."""
    run = Findings()
    for key in layout.ignored:
        run.file_entry(key, LAYOUT_REASON)
        run.notes.append(f"{key}: ignored, {LAYOUT_REASON}")
    run.accounting.files_ignored = len(layout.ignored)
    if layout.harvests is None:
        raise IngestionError(f"{HARVESTS_FILE}: not found in {source.uri} (labels are required)")
    return run


def write_quarantine_report(result: IngestionResult, path: str | Path) -> Path:
    """Write the quarantine table as CSV so a person can fix the source exports."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    result.quarantine.to_csv(path, index=False, columns=list(v.QUARANTINE_COLUMNS))
    return path


def farm_timezones(farms: pd.DataFrame | None) -> dict[str, str]:
    """farm_id -> IANA name, for the farms whose naive timestamps are local time."""
    if farms is None:
        return {}
    given = farms.dropna(subset=["timezone"])
    return dict(zip(given["farm_id"], given["timezone"], strict=True))


def as_utc(now: pd.Timestamp | None) -> pd.Timestamp:
    if now is None:
        return pd.Timestamp.now(tz="UTC")
    now = pd.Timestamp(now)
    return now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")


def classify_files(keys: list[str]) -> Layout:
    """Sort the listing into the contract's layout; everything else is ignored (reported)."""
    layout = Layout()
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


def load_farms(source: DataSource, key: str | None, run: Findings) -> pd.DataFrame | None:
    if key is None:
        run.notes.append(f"{FARMS_FILE}: absent; farms derived from sensors and harvests")
        return None
    table, malformed = _load_table(source, key, ("farm_id",), FARM_COLUMNS, run)
    farms, found = v.check_farms(table.reindex(columns=[*FARM_COLUMNS, "_line", "_file"]))
    run.found += [malformed.assign(scope="farm"), found]
    return farms


def load_harvests(
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
    """farms.csv / harvests.csv: a run cannot go on without them, so failure is fatal.
    Returns the records as text (with `_line`, `_file`) and the malformed ones' entries."""
    try:
        try:
            data: bytes | OSError = source.read_bytes(key)
        except OSError as exc:
            data = exc
        checked = open_file(key, data)
        run.note_extra(key, check_columns(checked.names, required, known))
    except FileParseError as exc:
        raise IngestionError(f"{key}: {exc}") from None
    good = [(line, fields) for line, fields, _ in checked.rows if len(fields) == checked.width]
    table = pd.DataFrame([fields for _, fields in good], columns=checked.names, dtype=str)
    table = table.assign(_line=pd.Series([line for line, _ in good], dtype="int64"), _file=key)
    bad = [(line, text) for line, fields, text in checked.rows if len(fields) != checked.width]
    malformed = v.entries(
        key,
        [line for line, _ in bad],
        "",
        [text for _, text in bad],
        f"wrong number of fields (header has {checked.width})",
        "row",
    )
    return table, malformed


def open_sensors(source, sensors, contents, downloads: Path, run: Findings):
    """Each sensor file checked, in listing order: (file, folder) for those that can be
    read, the others reported. DuckDB reads a local file where it is, an object from S3
    once written to `downloads`."""
    local_path = getattr(source, "local_path", None)
    opened: list[tuple[SourceFile, str]] = []
    for number, (key, folder) in enumerate(sensors):
        data = next(contents)[1]
        if local_path is not None:
            path = local_path(key)
        elif isinstance(data, bytes):
            target = downloads / f"{number}{PurePosixPath(key).suffix}"
            target.write_bytes(data)
            path = str(target)
        else:
            path = ""
        try:
            checked = open_file(key, data, path)
            check_columns(checked.names, REQUIRED_SENSOR_COLUMNS, SENSOR_COLUMNS_KNOWN)
        except FileParseError as exc:
            run.fail_file(key, str(exc))
            continue
        finally:
            del data
        opened.append((checked, folder))
    return opened


def _check_sensors(opened, timezones, now, run: Findings) -> pd.DataFrame:
    acc = run.accounting
    acc.files_read = len(opened)
    if not opened:
        raise IngestionError(
            f"{SENSORS_DIR}/: no usable sensor file ({acc.files_failed} found under "
            f"{SENSORS_DIR}/<farm_id>/, {acc.files_failed} failed{run.first_failure})"
        )
    checks = check_sensor_files(opened, timezones, now)
    for fi, (checked, _) in enumerate(opened):
        run.note_extra(checked.key, [c for c in checked.names if c not in SENSOR_COLUMNS_KNOWN])
        if not checks.records[fi]:
            run.file_entry(checked.key, "no data rows (header only)")
    run.found.append(checks.found)
    acc.rows_read = int(checks.records.sum())
    acc.rows_accepted = len(checks.readings)
    acc.rows_quarantined = checks.rows_quarantined
    acc.duplicate_rows_dropped = checks.duplicate_rows_dropped
    acc.readings_nulled = checks.readings_nulled
    if checks.readings.empty:
        top = pd.concat(run.found)["reason"].value_counts()
        raise IngestionError(
            f"{SENSORS_DIR}/: no sensor reading passed validation ({acc.rows_read} rows read; "
            f"most common problem: {top.index[0] if len(top) else 'no data rows'})"
        )
    return checks.readings


def complete_farms(farms, readings, harvests, run: Findings) -> pd.DataFrame:
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
