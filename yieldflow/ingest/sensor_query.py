"""The sensor files checked by DuckDB: readings, quarantine entries and counts.

The records of every checked file (yieldflow.ingest.read) go through the contract's SQL
(yieldflow.ingest.validation) in one streaming query: what it keeps is written straight into
the readings' arrays, what it reports is collected, so memory holds the readings and
little else. Duplicates are then found in SQL over those arrays (DuckDB scans them in
place), and the readings are sorted by farm and time only when they did not come so.

Plain CSV is scanned by DuckDB itself, one row per physical line: the n-th line of the
scan, less the lines of the files before it, is the line number. That needs DuckDB to
scan the files in the order given and keep it (insertion order, its default, set here).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from yieldflow.contract import SENSOR_VALUE_COLUMNS
from yieldflow.ingest import validation as v
from yieldflow.ingest.read import BLANK, SourceFile

SENSOR_COLUMNS_KNOWN: tuple[str, ...] = ("farm_id", "timestamp", *SENSOR_VALUE_COLUMNS)
THREADS_ENV = "YIELDFLOW_DUCKDB_THREADS"  # DuckDB's threads (default: one per core)
BATCH_ROWS = 2**17  # rows per batch streamed out of DuckDB
ZONE_DAYS_FROM = "1990-01-01"  # local times before are placed row by row: slower, same
_LINES = (
    "columns = {'text': 'VARCHAR'}, header = false, delim = '\\x01', quote = '', "
    "escape = '', auto_detect = false, skip = 1, filename = true"
)
_KEPT = ("fi", "line", "fo", "ts", *SENSOR_VALUE_COLUMNS)
_DTYPES = {"fi": "int32", "line": "int32", "fo": "int32", "ts": "int64"}
_FOUND = ("fi", "line", "ok", "column", "raw", "reason")


@dataclass
class SensorChecks:
    """What the sensor files gave: readings sorted by farm and time, the quarantine
    entries (row and value scope), and the counts ingestion publishes."""

    readings: pd.DataFrame
    found: pd.DataFrame
    records: np.ndarray  # per file (index as given): records read, bad ones included
    rows_quarantined: int
    duplicate_rows_dropped: int
    readings_nulled: int


def connect() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB: timestamps in UTC, scans in the order given."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # ICU is loaded by then (not at connect)
    con.execute("SET preserve_insertion_order = true")
    # Every join is written with its small side (files, zone days, repeated keys) on the
    # right, where DuckDB builds its hash table. Left to choose, it builds on the records
    # when it cannot estimate their number (read_csv over a list), which holds every row
    # in memory and stops the result from streaming.
    con.execute("SET disabled_optimizers = 'build_side_probe_side'")
    con.execute("SET enable_progress_bar = false")
    if threads := os.environ.get(THREADS_ENV, "").strip():  # e.g. 1 on a one-thread Dask worker
        con.execute(f"SET threads = {int(threads)}")
    return con


def check_sensor_files(
    files: list[tuple[SourceFile, str]], timezones: dict[str, str], now: pd.Timestamp
) -> SensorChecks:
    """`files`: each checked sensor file with its folder (its farm_id), in listing order;
    `timezones`: farm_id -> IANA zone for the farms whose naive timestamps are local."""
    con = connect()
    try:  # DuckDB's memory goes back before the readings are built
        kept, found, records, dropped, conflicts = _checked(con, files, timezones, now)
    finally:
        con.close()
    keys = np.asarray([f.key for f, _ in files], dtype=object)
    entries = [
        v.entries(
            keys[found["fi"]], found["line"], found["column"], found["raw"], found["reason"], ""
        ).assign(scope=np.where(found["ok"], "value", "row")),
        v.entries(
            keys[conflicts["fi"]],
            conflicts["line"],
            "timestamp",
            conflicts["raw"],
            v.CONFLICT_REASON,
            "row",
        ),
    ]
    return SensorChecks(
        readings=_readings(kept, dropped, sorted({folder for _, folder in files})),
        found=pd.concat(entries, ignore_index=True).astype({"scope": str}),
        records=records,
        rows_quarantined=int((~found["ok"]).sum()) + len(conflicts["fi"]),
        duplicate_rows_dropped=int((~dropped["conflict"]).sum()),
        readings_nulled=int(found["ok"].sum()),
    )


def _checked(con, files, timezones, now):
    """The checks' results: kept records, findings, records per file, the dropped
    copies (pos in the kept arrays, conflict) and the conflicting copies' raw timestamps."""
    folders = sorted({folder for _, folder in files})
    zones = sorted({timezones[folder] for _, folder in files if folder in timezones})
    _register_files(con, "files", [(i, *f) for i, f in enumerate(files)], folders, timezones)
    con.execute(f"CREATE TEMP VIEW cells AS {_cells_sql(files, 'files')}")
    last = (now + pd.Timedelta(days=2)).strftime("%Y-%m-%d")
    con.execute(f"CREATE TEMP TABLE zone_days AS {v.zone_days_sql(zones, ZONE_DAYS_FROM, last)}")
    checks = v.sensor_checks_sql(now, zones, ZONE_DAYS_FROM)
    kept, found, records = _stream_checks(con, files, checks)
    if _in_order(kept["fo"], kept["ts"]):  # strictly: no key twice, nothing to drop
        con.execute(
            "CREATE TEMP TABLE drops (pos BIGINT, fi INTEGER, line INTEGER, conflict BOOLEAN)"
        )
    else:  # DuckDB scans the arrays in place
        con.register("kept", pa.table({name: pa.array(array) for name, array in kept.items()}))
        con.execute(
            f"""CREATE TEMP TABLE drops AS SELECT pos, fi, line, conflict
                FROM ({v.conflicts_sql()}) WHERE conflict OR copy > 1"""
        )
        con.unregister("kept")
    dropped = con.execute("SELECT pos, conflict FROM drops").fetchnumpy()
    conflicts = _conflict_stamps(con, files, timezones)
    return kept, found, records, dropped, conflicts


def _stream_checks(con, files, checks: str):
    """Run the checks, streaming: the kept records' columns (as arrays), every finding
    (fi, line, ok, column, raw, reason; one per problem), and records per file."""
    bound = sum(f.lines if f.plain else len(f.rows) for f, _ in files)
    kept = {name: np.empty(bound, dtype=_DTYPES.get(name, "float64")) for name in _KEPT}
    found: dict[str, list[np.ndarray]] = {k: [] for k in _FOUND}
    records = np.zeros(len(files), dtype="int64")
    values = ", ".join(SENSOR_VALUE_COLUMNS)
    batches = con.execute(
        f"SELECT fi, line, fo, epoch_ns(ts) AS ts, {values}, ok, found FROM ({checks})"
    ).fetch_record_batch(BATCH_ROWS)
    at = 0
    for batch in batches:
        records += np.bincount(batch.column("fi").to_numpy(), minlength=len(files))
        ok = batch.column("ok")
        n = pc.sum(ok).as_py() or 0
        for name in _KEPT:
            kept[name][at : at + n] = batch.column(name).filter(ok).to_numpy(zero_copy_only=False)
        at += n
        # Each finding: its record (by the list's parent index) and [column, raw, reason].
        lists = batch.column("found")
        parents = pc.list_parent_indices(lists)
        cells = pc.list_flatten(pc.list_flatten(lists)).to_numpy(zero_copy_only=False)
        for name in ("fi", "line", "ok"):
            found[name].append(batch.column(name).take(parents).to_numpy(zero_copy_only=False))
        for i, name in enumerate(("column", "raw", "reason")):
            found[name].append(cells[i::3])
    kept = {name: array[:at] for name, array in kept.items()}
    arrays = {
        name: np.concatenate(parts) if parts else np.zeros(0, dtype=object)
        for name, parts in found.items()
    }
    arrays["ok"] = arrays["ok"].astype(bool)
    return kept, arrays, records


def _conflict_stamps(con, files, timezones) -> dict[str, np.ndarray]:
    """The raw timestamps of the conflicting copies, read again from their files only
    (conflicts are rare; carrying every raw timestamp along would double the memory)."""
    listed = con.execute("SELECT DISTINCT fi FROM drops WHERE conflict ORDER BY fi").fetchall()
    some = [(fi, *files[fi]) for (fi,) in listed]
    folders = sorted({folder for _, folder in files})
    _register_files(con, "some_files", some, folders, timezones, py_rows="some_rows")
    cells = _cells_sql([(source, folder) for _, source, folder in some], "some_files", "some_rows")
    found = con.execute(
        f"""SELECT c.fi, c.line, c.timestamp AS raw FROM ({cells}) c
            SEMI JOIN (SELECT fi, line FROM drops WHERE conflict) USING (fi, line)
            ORDER BY fi, line"""
    ).fetchnumpy()
    return {
        "fi": np.asarray(found["fi"], dtype="int64"),
        "line": np.asarray(found["line"], dtype="int64"),
        "raw": np.asarray(found["raw"], dtype=object),
    }


def _register_files(con, name, files, folders, timezones, py_rows: str = "py_rows") -> None:
    """Table `name`: per file (`files`: index, file, folder) its index, folder (name and
    rank), zone (index zi), width, where each contract column is in its records (1-based, NULL:
    absent) and, for plain CSV, its path and the lines of the plain files scanned before
    it; `py_rows`: the records read in Python (quoted CSV, Parquet)."""
    rank = {folder: i for i, folder in enumerate(folders)}
    zones = {z: i for i, z in enumerate(sorted({timezones[f] for f in folders if f in timezones}))}
    table: dict[str, list] = {
        k: [] for k in ("fi", "fo", "folder", "zi", "width", "path", "before")
    }
    positions: dict[str, list] = {c: [] for c in SENSOR_COLUMNS_KNOWN}
    rows: dict[str, list] = {"fi": [], "line": [], "fields": [], "text": []}
    before = 0
    for fi, source, folder in files:
        row = (fi, rank[folder], folder, zones.get(timezones.get(folder)), source.width,
               source.path if source.plain else None, before)  # fmt: skip
        for key, value in zip(table, row, strict=True):
            table[key].append(value)
        for column in SENSOR_COLUMNS_KNOWN:
            names = source.names
            positions[column].append(names.index(column) + 1 if column in names else None)
        before += source.lines if source.plain else 0
        for line, fields, text in source.rows:
            for key, value in zip(rows, (fi, line, fields, text), strict=True):
                rows[key].append(value)
    frame = pd.DataFrame(
        table | {f"p_{c}": pd.array(p, dtype="Int32") for c, p in positions.items()}
    )
    con.register("files_frame", frame)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * REPLACE (fi::INTEGER AS fi, "
        "fo::INTEGER AS fo, folder::VARCHAR AS folder, zi::INTEGER AS zi, "
        "path::VARCHAR AS path) FROM files_frame"
    )
    con.unregister("files_frame")
    schema = pa.schema(
        [("fi", pa.int32()), ("line", pa.int32()), ("fields", pa.list_(pa.string())),
         ("text", pa.string())]
    )  # fmt: skip
    con.register(py_rows, pa.Table.from_pydict(rows, schema=schema))


def _cells_sql(files, table: str, py_rows: str = "py_rows") -> str:
    """One row per record: file (fi, fo, folder, zone, width), line, whether its field
    count is wrong (then its text), and each contract column's raw text."""
    paths = [source.path for source, _ in files if source.plain]
    blank = v.sql_text(BLANK)
    record = f"""SELECT f.fi, f.fo, f.folder, f.zi, f.width, {{line}} AS line, text,
        string_split(text, ',') AS fields, {", ".join(f"f.p_{c}" for c in SENSOR_COLUMNS_KNOWN)}"""
    plain = ""
    if paths:  # a line is blank if it is NULL or only whitespace (checked when it starts so)
        listed = "[" + ", ".join(v.sql_text(p) for p in paths) + "]"
        plain = f"""{record.format(line="(n - f.before + 1)::INTEGER")} FROM (
              SELECT filename, text, row_number() OVER () AS n FROM read_csv({listed}, {_LINES})
            ) JOIN {table} f ON f.path = filename
            WHERE text IS NOT NULL
              AND (ascii(text) NOT IN (9, 13, 32) OR trim(text, {blank}) <> '')
            UNION ALL """
    python = record.format(line="r.line").replace("string_split(text, ',')", "r.fields")
    columns = ", ".join(f"fields[p_{c}] AS {c}" for c in SENSOR_COLUMNS_KNOWN)
    return f"""
SELECT fi, fo, line, len(fields) <> width AS bad, folder, zi, width,
  CASE WHEN len(fields) <> width THEN left(trim(text, {v.SPACE}), 200) END AS text,
  {columns}
FROM ({plain}{python} FROM {py_rows} r JOIN {table} f USING (fi))"""


def _in_order(fo: np.ndarray, stamp: np.ndarray) -> bool:
    """Whether the keys (farm rank, instant) strictly increase."""
    return bool(((np.diff(fo) > 0) | ((np.diff(fo) == 0) & (np.diff(stamp) > 0))).all())


def _readings(kept: dict[str, np.ndarray], dropped, folders: list[str]) -> pd.DataFrame:
    """The kept records less the dropped copies, sorted by farm and time (a column at a
    time, and only when they did not come in that order)."""
    take = None
    del kept["fi"], kept["line"]
    if len(dropped["pos"]):
        keep = np.ones(len(kept["ts"]), dtype=bool)
        keep[dropped["pos"]] = False
        take = np.flatnonzero(keep)
        del keep
    fo, stamp = kept["fo"], kept["ts"]
    if take is not None:
        fo, stamp = fo[take], stamp[take]
    if not _in_order(fo, stamp):
        order = np.lexsort((stamp, fo))
        take = order if take is None else take[order]
    del fo, stamp
    columns = {}
    for name in ("fo", "ts", *SENSOR_VALUE_COLUMNS):
        column = kept.pop(name)
        columns[name] = column if take is None else column[take]
        del column
    farm = pa.DictionaryArray.from_arrays(pa.array(columns.pop("fo")), pa.array(folders))
    return pd.DataFrame(
        {
            "farm_id": pd.array(
                farm.cast(pa.string()), dtype=pd.StringDtype("pyarrow", na_value=np.nan)
            ),
            "timestamp": pd.to_datetime(columns.pop("ts"), unit="ns", utc=True),
            **{name: columns.pop(name) for name in SENSOR_VALUE_COLUMNS},
        },
        copy=False,
    )
