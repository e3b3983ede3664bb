"""Typing at the edges: timestamps as pandas' ISO 8601 parser reads them, every spelling of
a number judged by its text, and quoted CSV (read in Python) giving what plain CSV (read
by DuckDB line by line) gives. Everything goes through ingest_dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yieldflow.contract import REQUIRED_SENSOR_COLUMNS, SENSOR_VALUE_COLUMNS
from yieldflow.ingest.dataset import IngestionResult, ingest_dataset
from yieldflow.io.local import LocalSource

NOW = pd.Timestamp("2025-01-01", tz="UTC")
HARVESTS = (
    "farm_id,season,crop,planting_date,harvest_date,yield_t_ha\n"
    "farm_a,2024,Maize,2024-03-01,2024-09-01,5.5\n"
)
STRICT = ["2024-05-01T00:00:00Z", "2024-02-29T23:59:59", "1999-12-31 12:30:45"]
NOT_STRICT = [
    " 2024-05-01T00:00:00",  # spaces around: stripped
    "2024-05-01T00:00:00 ",
    "2024-05-01T00:00:00+02:00",
    "2024-05-01T00:00:00-0530",
    "2024-05-01T00:00:00+02",
    "2024-05-01T00:00:00.5Z",
    "2024-05-01T00:00",
    "2024-05-01T00:00Z",
    "2024-05-01",
    "2023-02-29T00:00:00",  # not a date
    "2024-05-01T24:00:00",
    "1600-01-01T00:00:00",  # before datetime64[ns]
    "2024-05-01t00:00:00z",
    "2024-05-01T00:00:00 Europe/Berlin",
    "infinity",
    "yesterday",
]


def dataset(root: Path, files: dict[str, str | bytes]) -> IngestionResult:
    for key, content in {"harvests.csv": HARVESTS, **files}.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = ingest_dataset(LocalSource(root), now=NOW)
    result.accounting.check()
    return result


@pytest.mark.parametrize("stamp", STRICT + NOT_STRICT)
def test_timestamps_read_as_pandas_iso8601_parser_reads_them(tmp_path, stamp):
    header = "farm_id,timestamp,air_temp_c,rainfall_mm"
    rows = f"farm_a,2024-06-01T00:00:00Z,1,2\nfarm_a,{stamp},1,2\n"
    result = dataset(tmp_path, {"sensors/farm_a/a.csv": f"{header}\n{rows}"})
    expected = pd.to_datetime(
        pd.Series([stamp.strip()]), format="ISO8601", utc=True, errors="coerce"
    )
    rows_out = result.quarantine[result.quarantine["scope"] == "row"]
    if expected.isna().iloc[0]:
        assert rows_out["reason"].tolist() == ["unparseable timestamp"]
        assert rows_out["raw_value"].tolist() == [stamp]
    elif expected.iloc[0] < pd.Timestamp("1678-01-01", tz="UTC"):
        assert rows_out["reason"].tolist() == ["timestamp before 1678"]
    else:
        assert rows_out.empty
        assert expected.iloc[0] in result.readings["timestamp"].tolist()


def _spelling_dataset(
    root: Path, spellings: list[str], newline: str = "\n", b_cells: list[str] | None = None
) -> dict[str, str]:
    """Sensor file a.csv has one spelling per row, in turn per value column; b.csv, with
    only the required columns (another header), has `b_cells`."""
    values = SENSOR_VALUE_COLUMNS
    lines = ["farm_id,timestamp," + ",".join(values)]
    for i, cell in enumerate(spellings):
        stamp = pd.Timestamp("2024-05-01T00:00:00") + pd.Timedelta(minutes=15 * i)
        farm = "farm_b" if i % 9 == 4 else "farm_a"  # some rows leave whole (wrong farm)
        cells = [cell if j == i % len(values) else "5" for j in range(len(values))]
        lines.append(f"{farm},{stamp:%Y-%m-%dT%H:%M:%S}," + ",".join(cells))
    short = [c for c in lines[0].split(",") if c in REQUIRED_SENSOR_COLUMNS]  # optional absent
    return {
        "sensors/farm_a/a.csv": newline.join(lines) + newline,
        "sensors/farm_a/b.csv": ",".join(short)
        + newline
        + "farm_a,2024-06-01T00:00:00,"
        + ",".join(b_cells or spellings[: len(short) - 2])
        + newline,
    }


FLOAT_SPELLINGS = [
    "1.5", "1e1", "-0", "+2.5", ".5", "5.", "001.50", " 1.5", "1.5 ", "\t2",
    "-9999", "-9999.0", "9999", "-999", "", "nan", "NaN", "-nan", "NAN", "inf", "-Infinity",
    "150", "-61", "1e400", "1e-400", "4.9e-324", "0.1000000000000000055511151231257827",
    "ERR", "0x10", "1_000", "12..5",
]  # fmt: skip


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_every_spelling_of_a_value_is_judged_by_its_text(tmp_path, newline):
    result = dataset(tmp_path, _spelling_dataset(tmp_path, FLOAT_SPELLINGS, newline))
    raw = result.quarantine.groupby("reason")["raw_value"].agg(set)
    assert raw["empty"] == {""}
    assert raw["NaN"] == {"nan", "NaN", "NAN"}
    assert raw["not a number"] == {"-nan", "ERR", "0x10", "1_000", "12..5"}
    assert raw["logger sentinel"] == {"-9999", "-9999.0", "9999"}  # "-999": a row that left
    out_of_range = set().union(*raw[raw.index.str.startswith("out of range")])
    assert {"inf", "-Infinity", "1e400", "150"} <= out_of_range
    values = result.readings.set_index("timestamp")
    clean = {" 1.5": 1.5, "1.5 ": 1.5, "\t2": 2.0, "001.50": 1.5, ".5": 0.5, "5.": 5.0}
    for i, cell in enumerate(FLOAT_SPELLINGS):
        stamp = pd.Timestamp("2024-05-01T00:00:00", tz="UTC") + pd.Timedelta(minutes=15 * i)
        if cell in clean and stamp in values.index:
            column = SENSOR_VALUE_COLUMNS[i % len(SENSOR_VALUE_COLUMNS)]
            assert values.loc[stamp, column] == clean[cell], cell


def test_a_column_no_file_has_is_missing_without_events(tmp_path):
    optional = [c for c in SENSOR_VALUE_COLUMNS if c not in REQUIRED_SENSOR_COLUMNS]
    cells = ["1.5", "", "-9999", "2"]
    lines = [",".join(REQUIRED_SENSOR_COLUMNS)] + [
        f"farm_a,2024-05-01T0{i}:00:00,{cell},{cells[-1 - i]}" for i, cell in enumerate(cells)
    ]
    result = dataset(tmp_path, {"sensors/farm_a/a.csv": "\n".join(lines) + "\n"})
    assert result.readings[optional].isna().all().all()
    assert not set(result.quarantine["column"]) & set(optional)
    assert len(result.quarantine) == 4  # "" and "-9999" in each of the two required columns


PLAIN = (
    b"farm_id,timestamp,air_temp_c,rainfall_mm\n"
    b"farm_a,2024-05-01T00:00:00,1.5,0\n"
    b"farm_a,2024-05-01T00:15:00,2.5,0,9\n"  # one field too many
    b"farm_a,2024-05-01T00:30:00\n"  # too few
    b"farm_a\n"  # one field
    b"\n"  # blank
    b"farm_a,2024-05-01T00:45:00,3.5,0\n"
    b"   \n"  # blank
    b"farm_a,2024-05-01T01:00:00,4.5,0,,\n"
    b"farm_a,2024-05-01T01:15:00,5.5,0"  # no final newline
)


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_plain_and_quoted_files_give_the_same_records_and_lines(tmp_path, newline):
    """A quote sends a file through Python's csv module, a plain one is read by DuckDB
    line by line: same readings, bad records, lines and raw text."""
    plain = PLAIN.replace(b"\n", newline)
    quoted = plain.replace(b"00:00,1.5", b'00:00,"1.5"')
    one = dataset(tmp_path / "plain", {"sensors/farm_a/a.csv": plain})
    other = dataset(tmp_path / "quoted", {"sensors/farm_a/a.csv": quoted})
    pd.testing.assert_frame_equal(one.readings, other.readings)
    pd.testing.assert_frame_equal(one.quarantine, other.quarantine)
    bad = one.quarantine[one.quarantine["scope"] == "row"]
    assert bad["line"].tolist() == [3, 4, 5, 9]
    assert bad["raw_value"].tolist()[0] == "farm_a,2024-05-01T00:15:00,2.5,0,9"
    assert one.readings["air_temp_c"].tolist() == [1.5, 3.5, 5.5]
    assert np.isnan(one.readings["soil_moisture_pct"]).all()


def test_local_times_before_the_zone_table_are_placed_row_by_row(tmp_path):
    """Naive times of a farm with a timezone: days from 1990 on are placed by the zone
    table, earlier ones by ICU row by row; both give pandas' placement and find the DST
    gap (Berlin skipped 02:00-03:00 on 31 March 1985 and on 31 March 2024)."""
    stamps = [
        "1985-03-31T02:30:00", "1985-07-01T12:00:00", "2024-03-31T02:30:00",
        "2024-03-31T03:30:00", "2024-07-01T12:00:00",
    ]  # fmt: skip
    header = "farm_id,timestamp,air_temp_c,rainfall_mm"
    rows = "".join(f"farm_a,{stamp},1,2\n" for stamp in stamps)
    files = {
        "farms.csv": "farm_id,timezone\nfarm_a,Europe/Berlin\n",
        "sensors/farm_a/a.csv": f"{header}\n{rows}",
    }
    result = dataset(tmp_path, files)
    local = pd.DatetimeIndex(pd.to_datetime(stamps))
    expected = local.tz_localize("Europe/Berlin", nonexistent="NaT").tz_convert("UTC")
    assert result.readings["timestamp"].tolist() == expected.dropna().tolist()
    rows_out = result.quarantine[result.quarantine["scope"] == "row"]
    assert rows_out["line"].tolist() == [2, 4]
    assert set(rows_out["reason"]) == {"ambiguous or nonexistent local time"}
