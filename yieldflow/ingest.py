"""Ingestion: read a dataset root (docs/data-contract.md) into clean tables plus a report.

Only the DataSource protocol is used (list_files, read_bytes), so a local folder and an S3
prefix behave the same. Files are parsed whole and checked with vectorised rules from
yieldflow.validation, a batch of whole farm folders at a time (memory holds one batch's
text, not the dataset's): a file that cannot be parsed is reported and skipped, a bad row or
value goes to the quarantine table with its reason, and the accounting identity
rows_read = rows_accepted + rows_quarantined + duplicate_rows_dropped is checked on every
run, so nothing is dropped silently.
"""

from __future__ import annotations

import ctypes
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyarrow as pa

from yieldflow import validation as v
from yieldflow.contract import (
    FARM_COLUMNS,
    FARMS_FILE,
    HARVEST_COLUMNS,
    HARVESTS_FILE,
    PLANNED_SEASONS_FILE,
    REQUIRED_SENSOR_COLUMNS,
    SENSOR_SUFFIXES,
    SENSOR_VALUE_COLUMNS,
    SENSORS_DIR,
)
from yieldflow.ingest_parse import (
    FileParseError,
    Piece,
    check_columns,
    parse_pieces,
    piece_from_bytes,
    read_table,
)
from yieldflow.storage import DataSource, read_files

LAYOUT_REASON = "not part of the dataset layout"
SENSOR_COLUMNS_KNOWN: tuple[str, ...] = ("farm_id", "timestamp", *SENSOR_VALUE_COLUMNS)
# Sensor files are checked in batches of whole farm folders of about this many bytes: big
# enough that per-call overhead does not matter, small enough to bound the text in memory.
BATCH_BYTES = 16 * 2**20
try:  # glibc (Linux): malloc_trim returns the heap's free pages to the OS
    _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _MALLOC_TRIM = None


class IngestionError(Exception):
    """The dataset cannot be used at all; the message is one line naming file and problem."""


@dataclass
class IngestionAccounting:
    """Counts published with every run. Sensor rows obey the identity checked by check().

    files_read / files_failed count sensor files (farms.csv and harvests.csv either load or
    stop the run); files_ignored counts files outside the layout. A failed file's rows are
    never "read". readings_nulled equals the number of scope "value" quarantine entries;
    values are cleaned before duplicates are resolved, so a copy that is later dropped or
    quarantined as a duplicate keeps its value entries (each names its own file and line).
    """

    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    duplicate_rows_dropped: int = 0
    readings_nulled: int = 0
    files_read: int = 0
    files_failed: int = 0
    files_ignored: int = 0
    harvest_rows_read: int = 0
    harvest_rows_accepted: int = 0
    harvest_rows_quarantined: int = 0

    def check(self) -> None:
        """Raise ValueError when a row went missing or was counted twice."""
        total = self.rows_accepted + self.rows_quarantined + self.duplicate_rows_dropped
        if self.rows_read != total:
            raise ValueError(
                f"sensor accounting broken: rows_read={self.rows_read} != accepted "
                f"{self.rows_accepted} + quarantined {self.rows_quarantined} + duplicates "
                f"{self.duplicate_rows_dropped} = {total}"
            )
        harvests = self.harvest_rows_accepted + self.harvest_rows_quarantined
        if self.harvest_rows_read != harvests:
            raise ValueError(
                f"harvest accounting broken: read {self.harvest_rows_read} != {harvests}"
            )


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


@dataclass
class _Run:
    """What one run collects while it goes: quarantine pieces, notes and counts."""

    accounting: IngestionAccounting = field(default_factory=IngestionAccounting)
    found: list[pd.DataFrame] = field(default_factory=lambda: [v.empty_entries()])
    notes: list[str] = field(default_factory=list)
    first_failure: str = ""

    def file_entry(self, key: str, reason: str) -> None:
        self.found.append(v.entries([key], [0], "", "", reason, "file"))

    def fail_file(self, key: str, reason: str) -> None:
        self.accounting.files_failed += 1
        self.file_entry(key, reason)
        self.first_failure = self.first_failure or f"; first: {key}: {reason}"


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
    run = _Run()
    for key in layout.ignored:
        run.file_entry(key, LAYOUT_REASON)
        run.notes.append(f"{key}: ignored, {LAYOUT_REASON}")
    run.accounting.files_ignored = len(layout.ignored)
    if layout.harvests is None:
        raise IngestionError(f"{HARVESTS_FILE}: not found in {source.uri} (labels are required)")
    farms = _load_farms(source, layout.farms, run)
    timezones = _timezones(farms)
    harvests = _load_harvests(source, layout.harvests, farms, run)
    readings = _load_readings(source, layout.sensors, timezones, now, run)
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


def _load_farms(source: DataSource, key: str | None, run: _Run) -> pd.DataFrame | None:
    if key is None:
        run.notes.append(f"{FARMS_FILE}: absent; farms derived from sensors and harvests")
        return None
    table, malformed = _load_table(source, key, ("farm_id",), FARM_COLUMNS, run)
    farms, found = v.check_farms(table.reindex(columns=[*FARM_COLUMNS, "_line", "_file"]))
    run.found += [malformed.assign(scope="farm"), found]
    return farms


def _load_harvests(
    source: DataSource, key: str, farms: pd.DataFrame | None, run: _Run
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


def _load_table(source, key, required, known, run: _Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """farms.csv / harvests.csv: a run cannot go on without them, so failure is fatal."""
    try:
        table, piece = read_table(source, key)
        _note_extra(key, check_columns(piece.names, required, known), run)
    except FileParseError as exc:
        raise IngestionError(f"{key}: {exc}") from None
    return table.assign(_file=key), _bad_records([piece])


def _load_readings(source, sensors, timezones, now, run: _Run) -> pd.DataFrame:
    """Parse, validate and deduplicate the sensor files a batch of farm folders at a time.

    Every check is per row except duplicates, and a kept row's farm_id is its folder's, so
    a duplicate never spans folders: batches of whole folders give exactly the result of
    checking all rows at once, while memory holds one batch's text (not the dataset's)
    beside the typed readings kept so far.
    """
    acc = run.accounting
    folders: dict[str, list[str]] = defaultdict(list)  # folder -> keys, in listing order
    for key, folder in sensors:
        folders[folder].append(key)
    contents = read_files(source, [key for keys in folders.values() for key in keys])
    batch: list[tuple[Piece, str]] = []
    batch_bytes, chunks, failed, headers = 0, [], [], {}
    for folder, keys in folders.items():
        if batch and batch_bytes >= BATCH_BYTES:
            chunks.append(_check_batch(batch, timezones, now, run, failed))
            batch, batch_bytes = [], 0
        for key in keys:
            data = next(contents)[1]
            batch_bytes += len(data) if isinstance(data, bytes) else 0
            if piece := _open_sensor(key, data, run):
                batch.append((piece, folder))
                headers.setdefault(tuple(piece.names), len(headers))
            del data
    chunks.append(_check_batch(batch, timezones, now, run, failed))
    # Parse failures go last, ordered as one parse of every file would meet them.
    for _, key, reason in sorted(failed, key=lambda f: (headers[f[0][0]], f[0][1])):
        run.fail_file(key, reason)
    if acc.files_read == 0:
        raise IngestionError(
            f"{SENSORS_DIR}/: no usable sensor file ({len(sensors)} found under "
            f"{SENSORS_DIR}/<farm_id>/, {acc.files_failed} failed{run.first_failure})"
        )
    readings = _concat_columns(chunks, in_order=list(folders) == sorted(folders))
    acc.rows_accepted = len(readings)
    if readings.empty:
        top = pd.concat(run.found)["reason"].value_counts()
        raise IngestionError(
            f"{SENSORS_DIR}/: no sensor reading passed validation ({acc.rows_read} rows read; "
            f"most common problem: {top.index[0] if len(top) else 'no data rows'})"
        )
    return readings


def _check_batch(batch, timezones, now, run: _Run, failed: list) -> dict[str, pd.Series]:
    """One batch of whole folders: its accepted readings sorted by farm and time, as one
    independent array per column (so that each can be released on its own).

    Parse failures are appended to `failed` as ((names, position), key, reason) for the
    caller to report in a global order; everything else is counted and reported here.
    """
    acc = run.accounting
    table, failures = parse_pieces([p for p, _ in batch])
    for piece, _ in batch:
        piece.body = b""  # parsed into `table`: do not hold every file's bytes twice
    position = acc.files_read + len(failed)
    for i, (piece, _) in enumerate(batch):
        if piece.key in failures:
            failed.append(((tuple(piece.names), position + i), piece.key, failures[piece.key]))
    usable = [(p, f) for p, f in batch if p.key not in failures]
    _account_files([p for p, _ in usable], run)
    if not usable:
        return {}
    raw = _sensor_rows(table, batch)
    del table  # peak memory: each stage's input is released once the next one has it
    acc.rows_read += len(raw)
    rows, found = v.parse_timestamps(raw, timezones, now)
    del raw
    rows, values_found = v.clean_values(rows)
    rows, conflicts, copies = v.deduplicate(rows)
    run.found += [found, values_found, conflicts]
    acc.rows_quarantined += len(found) + len(conflicts)
    acc.duplicate_rows_dropped += copies
    acc.readings_nulled += len(values_found)
    keys = rows[["farm_id", "timestamp"]].reset_index(drop=True)
    order = keys.sort_values(["farm_id", "timestamp"], kind="stable").index.to_numpy()
    readings = {name: pd.Series(rows[name].array.take(order)) for name in SENSOR_COLUMNS_KNOWN}
    del rows, keys
    _release_freed_memory()
    return readings


def _concat_columns(chunks: list[dict[str, pd.Series]], in_order: bool) -> pd.DataFrame:
    """The batches' readings as one frame sorted by farm and time, a column at a time.

    Each column's pieces are released once joined, so the peak is the readings plus one
    column, not twice the readings. Batches follow the listing, which sorts keys, not
    folder names ("F1-b/" comes before "F1/"): unless the folders came `in_order`, the
    joined frame is sorted again.
    """
    chunks = [c for c in chunks if c]
    columns = {}
    for name in SENSOR_COLUMNS_KNOWN:
        parts = [c.pop(name) for c in chunks]
        columns[name] = pd.concat(parts, ignore_index=True) if parts else pd.Series()
        del parts
        _release_freed_memory()
    readings = pd.DataFrame(columns, copy=False)
    if not in_order:
        readings = readings.sort_values(["farm_id", "timestamp"], kind="stable")
    return readings.reset_index(drop=True)


def _release_freed_memory() -> None:
    """Hand freed memory back to the OS so the next stage can reuse it.

    Arrow's allocator keeps freed pages for reuse, and glibc's malloc keeps the holes that
    freed batch columns leave in its heap: without this, RSS would count each batch's
    columns twice (once as holes, once joined) and peak at twice the readings.
    """
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _open_sensor(key: str, data: bytes | OSError, run: _Run) -> Piece | None:
    """One checked sensor file, or None after reporting why it cannot be used."""
    try:
        piece = piece_from_bytes(key, data)
        check_columns(piece.names, REQUIRED_SENSOR_COLUMNS, SENSOR_COLUMNS_KNOWN)
    except FileParseError as exc:
        run.fail_file(key, str(exc))
        return None
    return piece


def _account_files(pieces: list[Piece], run: _Run) -> None:
    """Count the files that were read; report their malformed records and odd columns."""
    run.accounting.files_read += len(pieces)
    for piece in pieces:
        _note_extra(piece.key, [c for c in piece.names if c not in SENSOR_COLUMNS_KNOWN], run)
        if len(piece.lines) == 0 and not piece.bad_text:
            run.file_entry(piece.key, "no data rows (header only)")
    bad = _bad_records(pieces)
    run.found.append(bad)
    run.accounting.rows_read += len(bad)
    run.accounting.rows_quarantined += len(bad)


def _sensor_rows(table: pd.DataFrame, opened: list[tuple[Piece, str]]) -> pd.DataFrame:
    """The contract's columns as strings (absent = NaN) plus _file, _line and _folder."""
    raw = table.reindex(columns=[*SENSOR_COLUMNS_KNOWN, "_line"])
    text = list(SENSOR_COLUMNS_KNOWN)
    raw[text] = raw[text].astype(str)  # a column absent from every file: all-NaN strings
    codes = table["_piece"].to_numpy("int64")
    keys = [p.key for p, _ in opened]
    raw["_file"] = pd.Categorical.from_codes(codes, categories=keys)
    folder_of_piece, folders = pd.factorize(np.asarray([folder for _, folder in opened]))
    raw["_folder"] = pd.Categorical.from_codes(folder_of_piece[codes], categories=folders)
    raw["_raw_timestamp"] = raw["timestamp"]
    return raw


def _bad_records(pieces: list[Piece]) -> pd.DataFrame:
    """Records with the wrong number of fields: the row, not the file, is at fault."""
    found = [v.empty_entries()] + [
        v.entries(
            np.full(len(p.bad_text), p.key, dtype=object),
            p.bad_lines,
            "",
            p.bad_text,
            p.bad_reason,
            "row",
        )
        for p in pieces
        if p.bad_text
    ]
    return pd.concat(found, ignore_index=True)


def _complete_farms(farms, readings, harvests, run: _Run) -> pd.DataFrame:
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


def _note_extra(key: str, extra: list[str], run: _Run) -> None:
    if extra:  # an empty name (a trailing delimiter) would vanish from the note
        names = ", ".join(name or "(unnamed)" for name in extra)
        run.notes.append(f"{key}: extra column(s) ignored: {names}")
