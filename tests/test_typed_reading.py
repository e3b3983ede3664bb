"""The fast paths of sensor checking give what the general ones give.

Sensor values are read as categoricals of their text and timestamps of the common shape by
Arrow's ISO 8601 parser; both are only faster ways to the same table and quarantine, so
each is compared here with the general path on cases at its edges.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from yieldflow import sensor_batches
from yieldflow.contract import SENSOR_VALUE_COLUMNS
from yieldflow.ingest_parse import parse_pieces, piece_from_bytes
from yieldflow.validation import _OFFSET_RE, _strict_stamps, _utc_stamps, clean_values

STRICT = ["2024-05-01T00:00:00Z", "2024-02-29T23:59:59", "1999-12-31 12:30:45"]
NOT_STRICT = [
    " 2024-05-01T00:00:00",  # spaces around: stripped, then read by pandas
    "2024-05-01T00:00:00 ",
    "2024-05-01T00:00:00+02:00",
    "2024-05-01T00:00:00.5Z",
    "2024-05-01T00:00",
    "2024-05-01",
    "2023-02-29T00:00:00",  # not a date
    "2024-05-01T24:00:00",
    "1600-01-01T00:00:00",  # outside datetime64[ns]
    "2024-05-01t00:00:00z",
    "",
    "yesterday",
]


def general_stamps(text: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """What the general path makes of stamps: pandas' ISO 8601 parser on stripped text."""
    text = text.str.strip()
    stamps = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    naive = ~text.str.contains(_OFFSET_RE, regex=True).fillna(False)
    return stamps, naive.to_numpy(bool)


def test_strict_stamps_take_the_fast_path_and_read_the_same_instants():
    text = pd.Series(STRICT * 3, dtype="str")
    assert _strict_stamps(text) is not None
    stamps, naive, blank = _utc_stamps(text)
    expected, expected_naive = general_stamps(text)
    assert stamps.tolist() == expected.tolist()
    assert naive.tolist() == expected_naive.tolist() == [False, True, True] * 3
    assert not blank.any()


@pytest.mark.parametrize("odd", NOT_STRICT)
def test_one_stamp_off_the_common_shape_sends_the_column_to_pandas(odd):
    text = pd.Series([*STRICT, odd], dtype="str")
    assert _strict_stamps(text) is None
    stamps, naive, blank = _utc_stamps(text)
    expected, expected_naive = general_stamps(text)
    assert stamps.isna().tolist() == expected.isna().tolist()
    assert stamps.dropna().tolist() == expected.dropna().tolist()
    assert naive.tolist() == expected_naive.tolist()
    assert blank.tolist() == [False, False, False, odd == ""]


def csv_piece(key: str, text: str):
    return piece_from_bytes(key, text.encode())


def parquet_piece(key: str, frame: pd.DataFrame):
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return piece_from_bytes(key, buffer.getvalue())


def test_value_columns_come_as_categoricals_of_their_text_whatever_the_file():
    head = "farm_id,timestamp,air_temp_c,rainfall_mm"
    pieces = [
        csv_piece("a.csv", f"{head},soil_temp_c\nf,2024-05-01T00:00:00Z, 7 ,-9999,12\n"),
        csv_piece("b.csv", "timestamp,farm_id,rainfall_mm,air_temp_c\n2024-05-01T01:00:00Z,f,,x\n"),
        csv_piece("c.csv", f'{head}\nf,2024-05-01T02:00:00Z,"1,5",0\n'),  # quoted: pandas
        parquet_piece(
            "d.parquet",
            pd.DataFrame({"farm_id": ["f"], "timestamp": ["t"], "air_temp_c": [np.nan]}),
        ),
    ]
    table, failures = parse_pieces(pieces, SENSOR_VALUE_COLUMNS)
    assert failures == {}
    for column in ("air_temp_c", "rainfall_mm", "soil_temp_c"):
        assert isinstance(table[column].dtype, pd.CategoricalDtype), column
    table = table.sort_values("_piece")  # Parquet tables come first
    assert table["_piece"].tolist() == [0, 1, 2, 3]
    assert table["air_temp_c"].tolist() == [" 7 ", "x", "1,5", ""]
    assert table["rainfall_mm"].astype(object).fillna("<none>").tolist() == [
        "-9999",
        "",
        "0",
        "<none>",  # the Parquet file has no such column
    ]
    assert table["soil_temp_c"].astype(object).fillna("<none>").tolist() == ["12"] + ["<none>"] * 3
    assert table["farm_id"].tolist() == ["f"] * 4


def test_clean_values_judges_categoricals_as_it_judges_strings():
    cells = ["10", " 7 ", "", "NaN", "nan", "-nan", "-9999", "-9999.0", "9999", "x", "1e3"]
    cells += ["-61", "60", "inf", "  ", "0x10", "+5", ".5"]
    rows = pd.DataFrame(
        {
            "_file": "a.csv",
            "_line": np.arange(2, 2 + len(cells)),
            "air_temp_c": pd.Series(cells, dtype="str"),
            "rainfall_mm": pd.Series(cells[::-1], dtype="str"),
        }
    )
    keep = np.arange(len(cells)) % 5 != 3
    as_text, text_found = clean_values(rows, keep=keep)
    categorical = rows.astype({"air_temp_c": "category", "rainfall_mm": "category"})
    as_codes, codes_found = clean_values(categorical, keep=keep)
    for column in SENSOR_VALUE_COLUMNS:
        pd.testing.assert_series_equal(as_codes[column], as_text[column])
    pd.testing.assert_frame_equal(codes_found, text_found)
    assert as_text["air_temp_c"].tolist()[:3] == [10.0, 7.0, pytest.approx(np.nan, nan_ok=True)]
    reasons = dict(zip(text_found["raw_value"], text_found["reason"], strict=False))
    assert reasons["-9999.0"] == "logger sentinel"
    assert reasons["x"] == "not a number"
    assert reasons["NaN"] == "NaN"
    assert reasons["  "] == "empty"


def test_batches_use_the_system_allocator_and_restore_the_default():
    before = pa.default_memory_pool().backend_name
    with sensor_batches._system_allocator():
        assert pa.default_memory_pool().backend_name == "system"
    assert pa.default_memory_pool().backend_name == before
