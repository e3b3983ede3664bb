"""Ingestion against hand-written datasets: every contract rule, with exact outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yieldflow.contract import FARM_COLUMNS, SENSOR_VALUE_COLUMNS
from yieldflow.ingest.dataset import (
    IngestionError,
    IngestionResult,
    ingest_dataset,
    write_quarantine_report,
)
from yieldflow.ingest.validation import QUARANTINE_COLUMNS
from yieldflow.io.local import LocalSource

NOW = pd.Timestamp("2025-01-01T00:00:00Z")
HEADER = ",".join(("farm_id", "timestamp", *SENSOR_VALUE_COLUMNS))
GOOD = dict(zip(SENSOR_VALUE_COLUMNS, ("10", "0", "50", "30", "12", "100", "2"), strict=True))
HARVESTS = (
    "farm_id,season,crop,planting_date,harvest_date,yield_t_ha\n"
    "farm_a,2024,Maize,2024-03-01,2024-09-01,5.5\n"
)


def row(farm: str = "farm_a", ts: str = "2024-05-01T00:00:00Z", **values: str) -> str:
    """One CSV line with good values unless overridden (column=raw text)."""
    cells = {**GOOD, **values}
    return ",".join([farm, ts, *(cells[c] for c in SENSOR_VALUE_COLUMNS)])


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for key, content in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def ingest(
    tmp_path: Path,
    files: dict[str, str | bytes],
    harvests: str | None = HARVESTS,
    now: pd.Timestamp = NOW,
) -> IngestionResult:
    """Write a dataset, ingest it, and check the invariants every run must keep."""
    if harvests is not None:
        files = {"harvests.csv": harvests, **files}
    write(tmp_path, files)
    result = ingest_dataset(LocalSource(tmp_path), now=now)
    assert_accounted(result)
    return result


def assert_accounted(result: IngestionResult) -> None:
    """Accounting identity and the shape promises of IngestionResult."""
    acc, q = result.accounting, result.quarantine
    acc.check()
    assert acc.rows_read == acc.rows_accepted + acc.rows_quarantined + acc.duplicate_rows_dropped
    assert acc.rows_accepted == len(result.readings)
    assert acc.rows_quarantined == (q["scope"] == "row").sum()
    assert acc.readings_nulled == (q["scope"] == "value").sum()
    assert acc.harvest_rows_read == acc.harvest_rows_accepted + acc.harvest_rows_quarantined
    assert acc.harvest_rows_quarantined == (q["scope"] == "harvest").sum()
    assert acc.harvest_rows_accepted == len(result.harvests)
    assert list(q.columns) == list(QUARANTINE_COLUMNS)
    assert q["line"].dtype == "int64"
    readings = result.readings
    assert list(readings.columns) == ["farm_id", "timestamp", *SENSOR_VALUE_COLUMNS]
    assert str(readings["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert all(readings[c].dtype == "float64" for c in SENSOR_VALUE_COLUMNS)
    assert not readings.duplicated(["farm_id", "timestamp"]).any()
    ordered = readings.sort_values(["farm_id", "timestamp"], kind="stable")
    assert ordered.index.tolist() == list(range(len(readings)))
    assert list(result.farms.columns) == list(FARM_COLUMNS)
    json.dumps(result.summary())


def only(result: IngestionResult, scope: str) -> pd.DataFrame:
    return result.quarantine[result.quarantine["scope"] == scope].reset_index(drop=True)


def sensor(*rows: str, farm: str = "farm_a", name: str = "2024-05.csv") -> dict[str, str]:
    return {f"sensors/{farm}/{name}": csv_text(*rows)}


# --- a clean dataset ----------------------------------------------------------------------


def test_clean_dataset_types_and_values(tmp_path):
    result = ingest(tmp_path, sensor(row(), row(ts="2024-05-01T01:00:00Z", air_temp_c="11.5")))
    assert result.quarantine.empty
    assert result.readings["air_temp_c"].tolist() == [10.0, 11.5]
    assert result.readings["farm_id"].tolist() == ["farm_a", "farm_a"]
    h = result.harvests
    assert h.dtypes.astype(str).to_dict() == {
        "farm_id": "str",
        "season": "int64",
        "crop": "str",
        "planting_date": "datetime64[ns]",
        "harvest_date": "datetime64[ns]",
        "yield_t_ha": "float64",
    }
    assert h.iloc[0].to_dict()["harvest_date"] == pd.Timestamp("2024-09-01")
    acc = result.accounting
    assert (acc.rows_read, acc.rows_accepted, acc.files_read, acc.files_failed) == (2, 2, 1, 0)
    assert (acc.harvest_rows_read, acc.harvest_rows_accepted) == (1, 1)


# --- single values -------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["-9999", "-999", "9999", "-9999.0", " -999.00 "])
def test_logger_sentinels_become_missing(tmp_path, raw):
    result = ingest(tmp_path, sensor(row(soil_moisture_pct=raw), row(ts="2024-05-01T01:00Z")))
    assert np.isnan(result.readings["soil_moisture_pct"].iloc[0])
    assert result.readings["soil_moisture_pct"].iloc[1] == 30.0
    entry = only(result, "value").iloc[0].to_dict()
    assert entry == {
        "file": "sensors/farm_a/2024-05.csv",
        "line": 2,
        "column": "soil_moisture_pct",
        "raw_value": raw,
        "reason": "logger sentinel",
        "scope": "value",
    }
    assert result.accounting.readings_nulled == 1
    assert result.accounting.rows_accepted == 2


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("NaN", "NaN"),
        ("nan", "NaN"),
        ("abc", "not a number"),
        ("1,5", None),
        ("12..5", "not a number"),
    ],
)
def test_empty_nan_and_text_values(tmp_path, raw, reason):
    if raw == "1,5":  # a decimal comma splits the row into too many fields
        result = ingest(tmp_path, sensor(row(wind_speed_ms=raw), row(ts="2024-05-01T01:00Z")))
        assert only(result, "row")["reason"].tolist() == ["wrong number of fields (header has 9)"]
        return
    result = ingest(tmp_path, sensor(row(wind_speed_ms=raw)))
    assert np.isnan(result.readings["wind_speed_ms"].iloc[0])
    values = only(result, "value")
    assert values[["column", "raw_value", "reason"]].values.tolist() == [
        ["wind_speed_ms", raw, reason]
    ]


@pytest.mark.parametrize(
    ("column", "raw", "reason"),
    [
        ("air_temp_c", "-60.1", "out of range [-60, 60]"),
        ("air_temp_c", "60.01", "out of range [-60, 60]"),
        ("rainfall_mm", "-0.1", "out of range [0, 500]"),
        ("rainfall_mm", "500.5", "out of range [0, 500]"),
        ("relative_humidity_pct", "100.1", "out of range [0, 100]"),
        ("soil_temp_c", "-40.5", "out of range [-40, 70]"),
        ("solar_radiation_wm2", "1500.01", "out of range [0, 1500]"),
        ("wind_speed_ms", "inf", "out of range [0, 75]"),
    ],
)
def test_out_of_range_values(tmp_path, column, raw, reason):
    result = ingest(tmp_path, sensor(row(**{column: raw})))
    assert np.isnan(result.readings[column].iloc[0])
    assert only(result, "value")[["column", "raw_value", "reason"]].values.tolist() == [
        [column, raw, reason]
    ]


def test_range_bounds_are_inclusive(tmp_path):
    low = row(air_temp_c="-60", rainfall_mm="0", solar_radiation_wm2="0")
    high = row(
        ts="2024-05-01T01:00Z",
        air_temp_c="60",
        rainfall_mm="500",
        solar_radiation_wm2="1500",
        relative_humidity_pct="100",
    )
    result = ingest(tmp_path, sensor(low, high))
    assert result.quarantine.empty
    assert result.readings["air_temp_c"].tolist() == [-60.0, 60.0]


def test_absent_optional_column_is_missing_without_events(tmp_path):
    header = "farm_id,timestamp,air_temp_c,rainfall_mm"
    files = {"sensors/farm_a/a.csv": csv_text("farm_a,2024-05-01T00:00Z,1,2", header=header)}
    result = ingest(tmp_path, files)
    assert result.quarantine.empty
    assert result.readings[list(SENSOR_VALUE_COLUMNS[2:])].isna().all().all()
    assert result.readings["rainfall_mm"].tolist() == [2.0]


# --- rows -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "column", "reason"),
    [
        (row(ts="yesterday"), "timestamp", "unparseable timestamp"),
        (row(ts="2024-13-01T00:00Z"), "timestamp", "unparseable timestamp"),
        (row(ts=""), "timestamp", "missing timestamp"),
        (row(farm=""), "farm_id", "missing farm_id"),
        (row(farm="farm_b"), "farm_id", "farm_id does not match its folder"),
    ],
)
def test_bad_rows_leave_whole(tmp_path, line, column, reason):
    result = ingest(tmp_path, sensor(row(), line, row(ts="2024-05-01T02:00Z")))
    rows = only(result, "row")
    assert rows[["line", "column", "reason"]].values.tolist() == [[3, column, reason]]
    assert result.accounting.rows_quarantined == 1
    assert result.accounting.rows_accepted == 2


def test_offset_and_z_timestamps_agree_in_utc(tmp_path):
    result = ingest(
        tmp_path,
        sensor(
            row(ts="2024-05-01T12:00:00Z"),
            row(ts="2024-05-01T15:30:00+02:00", air_temp_c="11"),
            row(ts="2024-05-01T09:00:00-05:00", air_temp_c="12"),
            row(ts="2024-05-01 15:00:00", air_temp_c="13"),  # naive, no farm timezone: UTC
        ),
    )
    stamps = result.readings["timestamp"].dt.strftime("%H:%M").tolist()
    assert stamps == ["12:00", "13:30", "14:00", "15:00"]
    assert result.readings["air_temp_c"].tolist() == [10.0, 11.0, 12.0, 13.0]


def test_same_instant_written_with_offset_and_z_is_one_reading(tmp_path):
    files = {
        **sensor(row(ts="2024-05-01T12:00:00Z"), name="a.csv"),
        **sensor(row(ts="2024-05-01T14:00:00+02:00"), name="b.csv"),
    }
    result = ingest(tmp_path, files)
    assert len(result.readings) == 1
    assert result.accounting.duplicate_rows_dropped == 1


def test_naive_timestamps_use_the_farm_timezone(tmp_path):
    farms = "farm_id,timezone\nfarm_a,Europe/Berlin\n"
    files = {
        "farms.csv": farms,
        **sensor(
            row(ts="2024-01-15T12:00:00"),  # CET: 11:00Z
            row(ts="2024-07-15T12:00:00"),  # CEST: 10:00Z
            row(ts="2024-07-15T12:00:00Z"),  # explicit: unchanged
            row(ts="2024-03-31T02:30:00"),  # skipped by the spring change
            row(ts="2024-10-27T02:30:00"),  # happens twice in autumn
        ),
    }
    result = ingest(tmp_path, files)
    assert result.readings["timestamp"].tolist() == [
        pd.Timestamp("2024-01-15T11:00Z"),
        pd.Timestamp("2024-07-15T10:00Z"),
        pd.Timestamp("2024-07-15T12:00Z"),
    ]
    rows = only(result, "row")
    assert rows["line"].tolist() == [5, 6]
    assert set(rows["reason"]) == {"ambiguous or nonexistent local time"}


def test_future_timestamps_leave(tmp_path):
    now = pd.Timestamp("2024-05-01T12:00:00Z")
    result = ingest(
        tmp_path, sensor(row(ts="2024-05-01T12:00:00Z"), row(ts="2024-05-01T12:00:01Z")), now=now
    )
    assert len(result.readings) == 1
    assert only(result, "row")[["line", "reason"]].values.tolist() == [
        [3, "timestamp in the future"]
    ]


def test_timestamps_outside_the_representable_range_leave_with_a_reason(tmp_path):
    """datetime64[ns] spans 1678-2262: a row outside it leaves, and its bad value too
    stays out of the value entries (the row's own entry says why it left)."""
    rows = [
        row(ts="1500-01-01T00:00:00Z", air_temp_c="-9999"),
        row(ts="2300-01-01T00:00:00Z"),
        row(ts="2024-05-01T00:00:00Z", air_temp_c="-9999"),
    ]
    result = ingest(tmp_path, sensor(*rows))
    assert result.readings["timestamp"].tolist() == [pd.Timestamp("2024-05-01T00:00Z")]
    assert only(result, "row")[["line", "reason"]].values.tolist() == [
        [2, "timestamp before 1678"],
        [3, "timestamp in the future"],
    ]
    assert only(result, "value")[["line", "reason"]].values.tolist() == [[4, "logger sentinel"]]


def test_exact_duplicates_across_files_are_kept_once(tmp_path):
    files = {
        **sensor(row(), row(ts="2024-05-01T01:00Z", air_temp_c="12.50"), name="may.csv"),
        **sensor(row(ts="2024-05-01T01:00Z", air_temp_c="12.5"), name="may-again.csv"),
    }
    result = ingest(tmp_path, files)
    assert len(result.readings) == 2
    assert result.accounting.duplicate_rows_dropped == 1
    assert result.accounting.rows_read == 3
    assert result.quarantine.empty


def test_duplicates_with_missing_values_are_still_exact(tmp_path):
    files = {
        **sensor(row(soil_temp_c="-9999"), name="a.csv"),
        **sensor(row(soil_temp_c=""), name="b.csv"),
    }
    result = ingest(tmp_path, files)
    assert len(result.readings) == 1
    assert result.accounting.duplicate_rows_dropped == 1
    assert only(result, "value")["reason"].tolist() == ["logger sentinel", "empty"]


def test_conflicting_duplicates_all_leave(tmp_path):
    files = {
        **sensor(row(), row(ts="2024-05-01T01:00Z"), name="a.csv"),
        **sensor(row(air_temp_c="11"), name="b.csv"),
        **sensor(row(), name="c.csv"),  # an exact copy of a.csv's first row: still leaves
    }
    result = ingest(tmp_path, files)
    assert result.readings["timestamp"].tolist() == [pd.Timestamp("2024-05-01T01:00Z")]
    rows = only(result, "row")
    assert rows[["file", "line", "reason"]].values.tolist() == [
        ["sensors/farm_a/a.csv", 2, "conflicting duplicate"],
        ["sensors/farm_a/b.csv", 2, "conflicting duplicate"],
        ["sensors/farm_a/c.csv", 2, "conflicting duplicate"],
    ]
    assert result.accounting.duplicate_rows_dropped == 0


def test_rows_are_sorted_by_farm_and_time(tmp_path):
    files = {
        **sensor(row(ts="2024-05-03T00:00Z"), row(ts="2024-05-01T00:00Z"), name="x.csv"),
        **sensor(row(ts="2024-05-02T00:00Z"), name="a.csv"),
        **sensor(row(farm="farm_0", ts="2024-05-09T00:00Z"), farm="farm_0"),
    }
    result = ingest(tmp_path, files)
    assert result.readings["farm_id"].tolist() == ["farm_0", "farm_a", "farm_a", "farm_a"]
    days = result.readings["timestamp"].dt.day.tolist()
    assert days == [9, 1, 2, 3]
    assert "farm 'farm_0': sensor readings but no valid harvest rows" in result.notes


def test_line_numbers_survive_blank_lines_and_quoted_newlines(tmp_path):
    header = HEADER + ",comment"
    text = (
        "\n".join(
            [
                header,
                row() + ',"two\nlines"',
                "",
                row(ts="2024-05-01T01:00Z", air_temp_c="-9999") + ",ok",
                row(ts="2024-05-01T02:00Z") + ",too,many",
                row(ts="2024-05-01T03:00Z", rainfall_mm="x") + ',"a, b"',
            ]
        )
        + "\n"
    )
    result = ingest(tmp_path, {"sensors/farm_a/a.csv": text})
    q = result.quarantine
    assert q[["line", "scope", "reason"]].values.tolist() == [
        [5, "value", "logger sentinel"],
        [6, "row", "wrong number of fields (header has 10)"],
        [7, "value", "not a number"],
    ]
    assert q["raw_value"].iloc[1] == row(ts="2024-05-01T02:00Z") + ",too,many"
    assert "sensors/farm_a/a.csv: extra column(s) ignored: comment" in result.notes


# --- files ----------------------------------------------------------------------------------

BAD_FILES = {
    "no header": (csv_text(row(), header=row(ts="2024-04-30T00:00Z")), "no header row"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01", "binary content"),
    "latin-1": (
        csv_text(row() + ",café", header=HEADER + ",note").encode("latin-1"),
        "not UTF-8 text (byte 0xe9",
    ),
    "empty": (b"", "empty file"),
    "blank": ("\n  \n", "empty file"),
    "missing column": (
        csv_text("farm_a,2024-05-01T00:00Z,1", header="farm_id,timestamp,air_temp_c"),
        "missing required column(s): rainfall_mm",
    ),
    "duplicate column": (
        csv_text(row() + ",1", header=HEADER + ",air_temp_c"),
        "duplicate column name(s): air_temp_c",
    ),
    "unbalanced quote": (
        csv_text('"farm_a,2024', row()),
        "unterminated quoted field starting on line 2",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_unparseable_file_is_reported_and_others_still_ingested(tmp_path, case):
    content, reason = BAD_FILES[case]
    files = {**sensor(row(), name="good.csv"), "sensors/farm_a/bad.csv": content}
    result = ingest(tmp_path, files)
    assert len(result.readings) == 1
    acc = result.accounting
    assert (acc.files_read, acc.files_failed, acc.rows_read) == (1, 1, 1)
    entry = only(result, "file").iloc[0]
    assert (entry["file"], entry["line"]) == ("sensors/farm_a/bad.csv", 0)
    assert reason in entry["reason"]
    assert "\n" not in entry["reason"]


def test_header_only_file_is_reported_but_read(tmp_path):
    files = {**sensor(row(), name="good.csv"), "sensors/farm_a/empty.csv": HEADER + "\n"}
    result = ingest(tmp_path, files)
    assert (result.accounting.files_read, result.accounting.files_failed) == (2, 0)
    assert only(result, "file")["reason"].tolist() == ["no data rows (header only)"]


def test_utf8_bom_and_crlf_are_fine(tmp_path):
    text = "\ufeff" + csv_text(row(), row(ts="2024-05-01T01:00Z")).replace("\n", "\r\n")
    result = ingest(tmp_path, {"sensors/farm_a/a.csv": text.encode("utf-8")})
    assert result.quarantine.empty
    assert len(result.readings) == 2


def test_parquet_file_is_read_like_csv(tmp_path):
    frame = pd.DataFrame(
        {
            "farm_id": ["farm_a", "farm_a", "farm_a"],
            "timestamp": pd.to_datetime(
                ["2024-05-01T02:00Z", "2024-05-01T00:00Z", "2024-05-01T01:00Z"]
            ),
            "air_temp_c": [10.0, -9999.0, 12.0],
            "rainfall_mm": [0.0, 1.0, 600.0],
            "soil_moisture_pct": [30.0, None, 31.0],
        }
    )
    path = tmp_path / "sensors" / "farm_a" / "a.parquet"
    path.parent.mkdir(parents=True)
    frame.to_parquet(path)
    result = ingest(tmp_path, sensor(row(ts="2024-05-01T03:00Z"), name="b.csv"))
    r = result.readings
    assert r["timestamp"].dt.hour.tolist() == [0, 1, 2, 3]
    assert r["air_temp_c"].tolist()[1:] == [12.0, 10.0, 10.0]
    assert r["relative_humidity_pct"].isna().tolist() == [True, True, True, False]
    values = only(result, "value")
    assert values[["file", "line", "column", "reason"]].values.tolist() == [
        ["sensors/farm_a/a.parquet", 2, "air_temp_c", "logger sentinel"],
        ["sensors/farm_a/a.parquet", 2, "soil_moisture_pct", "empty"],
        ["sensors/farm_a/a.parquet", 3, "rainfall_mm", "out of range [0, 500]"],
    ]
    assert result.accounting.files_read == 2


def test_broken_parquet_is_reported(tmp_path):
    files = {**sensor(row()), "sensors/farm_a/x.parquet": b"PAR1 not really"}
    result = ingest(tmp_path, files)
    assert only(result, "file")["reason"].str.startswith("not a readable Parquet file").all()


def test_files_outside_the_layout_are_ignored_and_listed(tmp_path):
    files = {
        **sensor(row()),
        "README.txt": "hi",
        "sensors/farm_a/notes.txt": "x",
        "sensors/stray.csv": csv_text(row()),
        "planned_seasons.csv": "farm_id,season\n",
    }
    result = ingest(tmp_path, files)
    ignored = only(result, "file")
    assert ignored["file"].tolist() == [
        "README.txt",
        "sensors/farm_a/notes.txt",
        "sensors/stray.csv",
    ]
    assert set(ignored["reason"]) == {"not part of the dataset layout"}
    assert result.accounting.files_ignored == 3
    assert "README.txt: ignored, not part of the dataset layout" in result.notes


def test_deeper_sensor_folders_are_not_part_of_the_layout(tmp_path):
    files = {**sensor(row()), "sensors/farm_a/2024/may.csv": csv_text(row())}
    result = ingest(tmp_path, files)
    assert only(result, "file")["file"].tolist() == ["sensors/farm_a/2024/may.csv"]
    assert result.accounting.rows_read == 1


def test_no_usable_sensor_file_is_fatal(tmp_path):
    with pytest.raises(IngestionError, match=r"^sensors/: no usable sensor file .*empty file"):
        ingest(tmp_path, {"sensors/farm_a/a.csv": b""})


def test_no_sensor_files_at_all_is_fatal(tmp_path):
    with pytest.raises(IngestionError, match="no usable sensor file"):
        ingest(tmp_path, {})


def test_all_rows_rejected_is_fatal(tmp_path):
    with pytest.raises(IngestionError, match="no sensor reading passed validation"):
        ingest(tmp_path, sensor(row(ts="bad")))


# --- harvests -------------------------------------------------------------------------------

H = "farm_id,season,crop,planting_date,harvest_date,yield_t_ha\n"


@pytest.mark.parametrize(
    ("line", "column", "reason"),
    [
        ("farm_a,2023,,2023-03-01,2023-09-01,5", "crop", "missing crop"),
        ("farm_a,2023,Maize,2023-03-01,2023-09-01,", "yield_t_ha", "missing yield_t_ha"),
        ("farm_a,2023.0,Maize,2023-03-01,2023-09-01,5", "season", "season is not an integer"),
        (
            "farm_a,2023,Maize,01/03/2023,2023-09-01,5",
            "planting_date",
            "planting_date is not an ISO date (YYYY-MM-DD)",
        ),
        (
            "farm_a,2023,Maize,2023-03-01,2023-02-30,5",
            "harvest_date",
            "harvest_date is not an ISO date (YYYY-MM-DD)",
        ),
        (
            "farm_a,2023,Maize,2023-09-01,2023-09-01,5",
            "harvest_date",
            "harvest_date is not after planting_date",
        ),
        ("farm_a,2023,Maize,2023-03-01,2023-09-01,0", "yield_t_ha", "yield_t_ha not in (0, 100)"),
        ("farm_a,2023,Maize,2023-03-01,2023-09-01,100", "yield_t_ha", "yield_t_ha not in (0, 100)"),
        (
            "farm_a,2023,Maize,2023-03-01,2023-09-01,lots",
            "yield_t_ha",
            "yield_t_ha is not a number",
        ),
        (
            "farm_a,2022,Maize,2023-03-01,2023-09-01,5",
            "season",
            "season is not the year of harvest_date",
        ),
        (
            "farm_a,2023,Maize,2023-03-01,2023-09-01,5,extra",
            "",
            "wrong number of fields (header has 6)",
        ),
    ],
)
def test_harvest_rules(tmp_path, line, column, reason):
    harvests = HARVESTS + line + "\n"
    result = ingest(tmp_path, sensor(row()), harvests=harvests)
    assert result.harvests["season"].tolist() == [2024]
    entry = only(result, "harvest")
    assert entry[["file", "line", "column", "reason"]].values.tolist() == [
        ["harvests.csv", 3, column, reason]
    ]
    acc = result.accounting
    assert (acc.harvest_rows_read, acc.harvest_rows_quarantined) == (2, 1)


def test_southern_season_and_valid_edges(tmp_path):
    harvests = (
        H
        + "farm_a,2024,Soybean,2023-10-01,2024-02-15,99.9\n"  # planted in the southern spring
        + "farm_a,2023,Wheat,2023-01-01,2023-01-02,0.01\n"
    )
    result = ingest(tmp_path, sensor(row()), harvests=harvests)
    assert result.harvests["season"].tolist() == [2024, 2023]
    assert result.harvests["planting_date"].iloc[0] == pd.Timestamp("2023-10-01")


def test_duplicate_harvests_all_leave(tmp_path):
    harvests = (
        HARVESTS
        + "farm_a,2024,Maize,2024-03-02,2024-09-02,6\nfarm_a,2023,Maize,2023-03-01,2023-09-01,5\n"
    )
    result = ingest(tmp_path, sensor(row()), harvests=harvests)
    assert result.harvests["season"].tolist() == [2023]
    entries = only(result, "harvest")
    assert entries[["line", "reason"]].values.tolist() == [
        [2, "duplicate harvest (farm_id, season)"],
        [3, "duplicate harvest (farm_id, season)"],
    ]


def test_harvest_of_farm_unknown_to_farms_csv(tmp_path):
    files = {"farms.csv": "farm_id\nfarm_a\n", **sensor(row())}
    harvests = HARVESTS + "farm_z,2024,Maize,2024-03-01,2024-09-01,5\n"
    result = ingest(tmp_path, files, harvests=harvests)
    assert only(result, "harvest")[["line", "reason"]].values.tolist() == [
        [3, "farm_id not in farms.csv"]
    ]


def test_unknown_harvest_farm_is_kept_without_farms_csv(tmp_path):
    harvests = HARVESTS + "farm_z,2024,Maize,2024-03-01,2024-09-01,5\n"
    result = ingest(tmp_path, sensor(row()), harvests=harvests)
    assert result.harvests["farm_id"].tolist() == ["farm_a", "farm_z"]
    assert "farm 'farm_z': harvest rows but no accepted sensor readings" in result.notes


def test_missing_harvests_file_is_fatal(tmp_path):
    with pytest.raises(IngestionError, match=r"^harvests\.csv: not found"):
        ingest(tmp_path, sensor(row()), harvests=None)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ((H + "farm_a,2024,Maïs,2024-03-01,2024-09-01,5\n").encode("latin-1"), "not UTF-8"),
        (
            "farm_id,season,crop\nfarm_a,2024,Maize\n",
            "missing required column(s): planting_date, harvest_date, yield_t_ha",
        ),
        (b"", "empty file"),
    ],
)
def test_unreadable_harvests_file_is_fatal(tmp_path, content, message):
    write(tmp_path, {"harvests.csv": content, **sensor(row())})
    with pytest.raises(IngestionError) as info:
        ingest_dataset(LocalSource(tmp_path), now=NOW)
    assert str(info.value).startswith("harvests.csv: ")
    assert message in str(info.value)


# --- farms ----------------------------------------------------------------------------------


def test_farms_csv_absent_builds_farms_from_ids(tmp_path):
    harvests = HARVESTS + "farm_b,2024,Maize,2024-03-01,2024-09-01,5\n"
    result = ingest(tmp_path, sensor(row()), harvests=harvests)
    farms = result.farms
    assert farms["farm_id"].tolist() == ["farm_a", "farm_b"]
    assert farms["soil_type"].tolist() == ["unknown", "unknown"]
    assert farms["irrigated"].tolist() == [False, False]
    assert farms[["name", "latitude", "longitude", "timezone"]].isna().all().all()
    assert "farms.csv: absent; farms derived from sensors and harvests" in result.notes


def test_farms_csv_values(tmp_path):
    farms = (
        "farm_id,name,latitude,longitude,soil_type,irrigated,timezone,owner\n"
        "farm_a,North,45.5,-93.2,ClayLoam,true,Mars/Olympus,ann\n"
        "farm_b,,91,200,,FALSE,,bob\n"
        "farm_c,C,north,10,SandyLoam,sometimes,UTC,cy\n"
        ",nameless,1,1,x,true,UTC,\n"
        "farm_a,again,1,1,x,true,UTC,\n"
    )
    files = {"farms.csv": farms, **sensor(row(ts="2024-05-01T00:00:00"))}
    result = ingest(tmp_path, files)
    f = result.farms.set_index("farm_id")
    assert f.index.tolist() == ["farm_a", "farm_b", "farm_c"]
    assert f.loc["farm_a", "irrigated"] and not f.loc["farm_b", "irrigated"]
    assert not f.loc["farm_c", "irrigated"]
    assert f.loc["farm_b", "soil_type"] == "unknown"
    assert np.isnan(f.loc["farm_b", "latitude"]) and np.isnan(f.loc["farm_b", "longitude"])
    assert pd.isna(f.loc["farm_a", "timezone"]) and f.loc["farm_c", "timezone"] == "UTC"
    assert result.readings["timestamp"].iloc[0] == pd.Timestamp("2024-05-01T00:00Z")  # as UTC
    q = only(result, "farm")
    assert q[["line", "column", "raw_value", "reason"]].values.tolist() == [
        [2, "timezone", "Mars/Olympus", "unknown timezone (read as UTC)"],
        [3, "latitude", "91", "out of range [-90, 90]"],
        [3, "longitude", "200", "out of range [-180, 180]"],
        [4, "latitude", "north", "not a number"],
        [4, "irrigated", "sometimes", "not a boolean (true/false)"],
        [5, "farm_id", "", "missing farm_id"],
        [6, "farm_id", "farm_a", "duplicate farm_id (first row kept)"],
    ]
    assert "farms.csv: extra column(s) ignored: owner" in result.notes


def test_sensor_farm_missing_from_farms_csv_is_noted(tmp_path):
    files = {
        "farms.csv": "farm_id\nfarm_a\n",
        **sensor(row()),
        **sensor(row(farm="farm_x"), farm="farm_x"),
    }
    result = ingest(tmp_path, files)
    assert "farm 'farm_x': sensor readings but not listed in farms.csv" in result.notes
    assert result.farms["farm_id"].tolist() == ["farm_a"]
    assert result.readings["farm_id"].tolist() == ["farm_a", "farm_x"]


def test_farms_csv_without_farm_id_is_fatal(tmp_path):
    write(tmp_path, {"farms.csv": "name\nx\n", "harvests.csv": HARVESTS, **sensor(row())})
    with pytest.raises(IngestionError, match=r"^farms\.csv: missing required column\(s\): farm_id"):
        ingest_dataset(LocalSource(tmp_path), now=NOW)


# --- report ---------------------------------------------------------------------------------


def test_write_quarantine_report_and_summary(tmp_path):
    data = tmp_path / "data"
    result = ingest(data, {**sensor(row(air_temp_c="-9999"), row(ts="x")), "junk.bin": b"\x00"})
    path = write_quarantine_report(result, tmp_path / "out" / "quarantine.csv")
    report = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(report.columns) == list(QUARANTINE_COLUMNS)
    assert report["reason"].tolist() == [
        "not part of the dataset layout",
        "logger sentinel",
        "unparseable timestamp",
    ]
    summary = result.summary()
    assert summary["rows_read"] == 2 and summary["rows_quarantined"] == 1
    assert summary["top_quarantine_reasons"]["logger sentinel"] == 1
    assert summary["quarantine_by_scope"] == {"file": 1, "value": 1, "row": 1}
    assert json.loads(json.dumps(summary)) == summary


def test_faults_far_apart_in_a_big_file_keep_their_lines(tmp_path):
    """A file of hundreds of rows with faults spread over it (a wrong field count, a bad
    timestamp, a sentinel, a duplicate and a conflict far apart, CRLF line ends), beside a
    quoted file, a small one and one whose header fails: each finding names its line."""
    header = HEADER + ",logger"
    lines = []
    for i in range(400):
        ts = f"2024-05-{1 + i // 24:02d}T{i % 24:02d}:00:00Z"
        if i == 7:
            lines.append(row(ts=ts) + ",x,extra")  # wrong number of fields
        elif i == 50:
            lines.append(row(ts="not a time") + ",x")
        elif i == 90:
            lines.append(row(ts=ts, soil_moisture_pct="-9999") + ",x")
        else:
            lines.append(row(ts=ts, air_temp_c=str(i % 30)) + ",x")
    lines.append(row(ts="2024-05-01T03:00:00Z", air_temp_c="3") + ",x")  # exact copy of line 5
    lines.append(row(ts="2024-05-02T00:00:00Z", air_temp_c="99") + ",x")  # conflicts line 26
    files = {
        "sensors/farm_a/big.csv": csv_text(*lines, header=header).replace("\n", "\r\n"),
        "sensors/farm_a/quoted.csv": csv_text(row(ts='"2024-06-01T00:00:00Z"')),
        "sensors/farm_b/small.csv": csv_text(row(farm="farm_b")),
        "sensors/farm_c/twice.csv": csv_text(*lines, header=header.replace("logger", "farm_id")),
    }
    whole = ingest(tmp_path, files)
    lines_of = whole.quarantine.set_index("reason")["line"].to_dict()
    assert lines_of["wrong number of fields (header has 10)"] == 9
    assert lines_of["unparseable timestamp"] == 52
    assert lines_of["logger sentinel"] == 92
    assert lines_of["conflicting duplicate"] == 403
    assert whole.quarantine["reason"].tolist().count("conflicting duplicate") == 2
    assert whole.accounting.duplicate_rows_dropped == 1
    assert lines_of["duplicate column name(s): farm_id"] == 0
    assert whole.accounting.rows_accepted == 400 - 2 - 1 + 1 + 1  # + quoted.csv, small.csv


def test_many_folders_with_every_kind_of_fault(tmp_path):
    """Eight farm folders with bad timestamps, sentinels, copies and conflicts, extra
    columns and three files that fail: counted once each, in one result."""
    files: dict[str, str | bytes] = {}
    for f in range(8):
        farm = f"farm_{f}"
        for month in (5, 6):
            rows = [
                row(farm, f"2024-{month:02d}-{d:02d}T{h:02d}:00:00Z")
                for d in (1, 2)
                for h in range(24)
            ]
            rows[3] = row(farm, "not a time")
            rows[5] = row(farm, rows[5].split(",")[1], air_temp_c="-9999")
            rows.append(rows[7])  # an exact copy
            rows.append(row(farm, rows[9].split(",")[1], air_temp_c="35"))  # a conflict
            files[f"sensors/{farm}/2024-{month:02d}.csv"] = csv_text(*rows)
        files[f"sensors/{farm}/notes.csv"] = csv_text(row(farm) + ",x").replace(
            HEADER, HEADER + ",extra"
        )
    files["sensors/farm_2/empty.csv"] = ""
    files["sensors/farm_5/utf16.csv"] = "farm_id,timestamp\n".encode("utf-16")
    files["sensors/farm_6/semicolons.csv"] = HEADER.replace(",", ";") + "\n"
    write(tmp_path, {"harvests.csv": HARVESTS, **files})
    one = ingest_dataset(LocalSource(tmp_path), now=NOW)
    assert_accounted(one)
    # 16 planted copies, plus each notes.csv row repeating its farm's first reading
    assert one.accounting.files_failed == 3 and one.accounting.duplicate_rows_dropped == 24
    assert sum("extra column" in note for note in one.notes) == 8
    assert one.quarantine["reason"].str.contains("conflict").any()
