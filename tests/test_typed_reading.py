"""The fast paths of sensor checking give what the general ones give.

Sensor values are read as categoricals of their text, timestamps of the common shape by
Arrow's ISO 8601 parser, and the field counts of plain CSV are left to Arrow until it
refuses a text; each is only a faster way to the same table and quarantine, so each is
compared here with the general path on cases at its edges.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from yieldflow import sensor_batches
from yieldflow.contract import SENSOR_VALUE_COLUMNS
from yieldflow.ingest_parse import parse_pieces, piece_from_bytes, split_records
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


PLAIN = (
    b"farm_id,timestamp,air_temp_c\n"
    b"F1,2024-05-01T00:00:00,1.5\n"
    b"F1,2024-05-01T00:15:00,2.5,9\n"  # one field too many
    b"F1,2024-05-01T00:30:00\n"  # one too few
    b"F1\n"  # one field
    b"F1,2024-05-01T00:45:00,3.5\n"
    b"F1,2024-05-01T01:00:00,4.5,,\n"
    b"F1,2024-05-01T01:15:00,5.5"  # no final newline
)


def _parsed(data: bytes) -> tuple[pd.DataFrame, list[int], list[str]]:
    piece = piece_from_bytes("sensors/F1/a.csv", data)
    table, failures = parse_pieces([piece])
    assert not failures
    return table.drop(columns="_piece"), piece.bad_lines.tolist(), piece.bad_text


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_plain_files_set_aside_the_same_bad_records_as_quoted_ones(newline):
    """A quote sends a file through the eager field count (_records); without one, Arrow
    counts and check_fields runs only once it refuses. Same rows, lines and bad text."""
    plain = PLAIN.replace(b"\n", newline)
    quoted = plain.replace(b"00:00,1.5", b'00:00,"1.5"')
    assert piece_from_bytes("k", plain).fields_checked is False
    assert piece_from_bytes("k", quoted).fields_checked is True
    table, bad_lines, bad_text = _parsed(plain)
    expected_table, expected_lines, expected_text = _parsed(quoted)
    pd.testing.assert_frame_equal(table, expected_table)
    assert bad_lines == expected_lines == [3, 4, 5, 7]
    assert bad_text == expected_text
    assert table["_line"].tolist() == [2, 6, 8]


def test_a_good_plain_file_is_never_counted_field_by_field(monkeypatch):
    """The saving itself: Arrow's parse stands for the field count of a clean file."""
    from yieldflow import ingest_parse

    def counted(*args):
        raise AssertionError("fields counted for a clean plain file")

    monkeypatch.setattr(ingest_parse, "_records", counted)
    good = b"\n".join(line for line in PLAIN.split(b"\n") if line.count(b",") == 2)
    table, bad_lines, _ = _parsed(good)
    assert bad_lines == [] and table["_line"].tolist() == [2, 3, 4]


def test_a_streamed_file_sets_aside_bad_records_in_every_text():
    """split_records' texts carry their line offset into the late field count."""
    rows = [f"F1,2024-05-01T{h:02d}:{m:02d}:00,{h}.{m}" for h in range(24) for m in (0, 30)]
    rows[5] += ",9"
    rows[40] = "F1"
    data = ("farm_id,timestamp,air_temp_c\n" + "\n".join(rows) + "\n").encode()
    texts = split_records(data, 300)
    assert texts is not None and len(texts) > 3
    bad = []
    for text, offset in texts:
        piece = piece_from_bytes("k", text)
        piece.lines += offset
        piece.bad_lines += offset
        parse_pieces([piece])
        bad += piece.bad_lines.tolist()
    assert bad == [7, 42]  # rows 5 and 40 are lines 7 and 42 of the file


# Every spelling here reads as a float in Arrow's CSV parser, so a file of them takes
# the float path; the text path must judge each the same (value, reason, raw text).
FLOAT_SPELLINGS = [
    "1.5", "1e1", "-0", "+2.5", ".5", "5.", "001.50", " 1.5", "1.5 ", "\t2",
    "-9999", "-9999.0", "9999", "-999", "", "nan", "NaN", "-nan", "NAN", "inf", "-Infinity",
    "150", "-61", "1e400", "1e-400", "4.9e-324", "0.1000000000000000055511151231257827",
]  # fmt: skip


def _spelling_dataset(
    tmp_path, spellings: list[str], newline: str = "\n", b_cells: list[str] | None = None
) -> Path:
    """Sensor file a.csv has one spelling per row, in turn per value column; b.csv, with
    only the required columns (another header, in the same batch), has `b_cells`."""
    from yieldflow.contract import REQUIRED_SENSOR_COLUMNS

    root = tmp_path / newline.encode().hex()
    values = SENSOR_VALUE_COLUMNS
    lines = ["farm_id,timestamp," + ",".join(values)]
    for i, cell in enumerate(spellings):
        stamp = pd.Timestamp("2024-05-01T00:00:00") + pd.Timedelta(minutes=15 * i)
        farm = "farm_b" if i % 9 == 4 else "farm_a"  # some rows leave whole (wrong farm)
        cells = [cell if j == i % len(values) else "5" for j in range(len(values))]
        lines.append(f"{farm},{stamp:%Y-%m-%dT%H:%M:%S}," + ",".join(cells))
    short = [c for c in lines[0].split(",") if c in REQUIRED_SENSOR_COLUMNS]  # optional absent
    files = {
        "harvests.csv": "farm_id,season,crop,planting_date,harvest_date,yield_t_ha\n"
        "farm_a,2024,Maize,2024-03-01,2024-09-01,5.5\n",
        "sensors/farm_a/a.csv": newline.join(lines) + newline,
        "sensors/farm_a/b.csv": ",".join(short)
        + newline
        + "farm_a,2024-06-01T00:00:00,"
        + ",".join(b_cells or spellings[: len(short) - 2])
        + newline,
    }
    for key, content in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(content.encode())
    return root


def _ingested_both_ways(root: Path, monkeypatch) -> tuple[object, object, list[bool]]:
    from yieldflow.ingest import ingest_dataset
    from yieldflow.ingest_parse import NotNumeric
    from yieldflow.storage import LocalSource

    now = pd.Timestamp("2025-01-01", tz="UTC")
    took = []
    parsed = sensor_batches._parsed

    def spy(pieces):
        result = parsed(pieces)
        took.append(result[2] is not None)
        return result

    monkeypatch.setattr(sensor_batches, "_parsed", spy)
    fast = ingest_dataset(LocalSource(root), now=now)
    took_fast = list(took)

    def refuse(pieces, numeric):
        raise NotNumeric("forced")

    monkeypatch.setattr(sensor_batches, "parse_numeric", refuse)
    text = ingest_dataset(LocalSource(root), now=now)
    return fast, text, took_fast


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_values_read_as_floats_are_judged_as_their_text_is(tmp_path, monkeypatch, newline):
    root = _spelling_dataset(tmp_path, FLOAT_SPELLINGS, newline)
    fast, text, took = _ingested_both_ways(root, monkeypatch)
    assert took == [True]  # every file took the float path
    pd.testing.assert_frame_equal(fast.readings, text.readings, check_exact=True)
    pd.testing.assert_frame_equal(fast.quarantine, text.quarantine, check_exact=True)
    assert fast.accounting == text.accounting
    raw = fast.quarantine.groupby("reason")["raw_value"].agg(set)
    assert raw["empty"] == {""}
    assert raw["NaN"] == {"nan", "NaN", "NAN"}
    assert raw["not a number"] == {"-nan"}  # NaN to Arrow, not "NaN" to the rules
    assert raw["logger sentinel"] == {"-9999", "-9999.0", "9999"}  # "-999": a row that left
    out_of_range = set().union(*raw[raw.index.str.startswith("out of range")])
    assert {"inf", "-Infinity", "1e400", "150"} <= out_of_range


def test_a_cell_that_is_no_number_sends_the_batch_to_the_text_path(tmp_path, monkeypatch):
    root = _spelling_dataset(tmp_path, [*FLOAT_SPELLINGS[:6], "ERR", "0x10"])
    fast, text, took = _ingested_both_ways(root, monkeypatch)
    assert took == [False]
    pd.testing.assert_frame_equal(fast.quarantine, text.quarantine, check_exact=True)
    assert {"ERR", "0x10"} <= set(fast.quarantine["raw_value"])


def test_a_bad_cell_in_a_later_header_gives_back_the_earlier_texts(tmp_path, monkeypatch):
    """b.csv's header group fails after a.csv's was read as floats: a.csv's body is cut
    back out of its parsed text (_give_back), and the text path reads both."""
    root = _spelling_dataset(tmp_path, FLOAT_SPELLINGS, b_cells=["1.5", "ERR"])
    fast, text, took = _ingested_both_ways(root, monkeypatch)
    assert took == [False]
    pd.testing.assert_frame_equal(fast.readings, text.readings, check_exact=True)
    pd.testing.assert_frame_equal(fast.quarantine, text.quarantine, check_exact=True)
    assert len(fast.readings) > len(FLOAT_SPELLINGS) // 2


def test_a_column_no_file_has_is_missing_on_the_float_path_too(tmp_path, monkeypatch):
    """Only the required columns in every file: the optional ones are NaN, never events."""
    from yieldflow.contract import REQUIRED_SENSOR_COLUMNS

    optional = [c for c in SENSOR_VALUE_COLUMNS if c not in REQUIRED_SENSOR_COLUMNS]
    cells = ["1.5", "", "-9999", "2"]
    lines = [",".join(REQUIRED_SENSOR_COLUMNS)] + [
        f"farm_a,2024-05-01T0{i}:00:00,{cell},{cells[-1 - i]}" for i, cell in enumerate(cells)
    ]
    root = tmp_path / "required-only"
    (root / "sensors" / "farm_a").mkdir(parents=True)
    (root / "harvests.csv").write_text(
        "farm_id,season,crop,planting_date,harvest_date,yield_t_ha\n"
        "farm_a,2024,Maize,2024-03-01,2024-09-01,5.5\n"
    )
    (root / "sensors" / "farm_a" / "a.csv").write_text("\n".join(lines) + "\n")
    fast, text, took = _ingested_both_ways(root, monkeypatch)
    assert took == [True]
    pd.testing.assert_frame_equal(fast.readings, text.readings, check_exact=True)
    pd.testing.assert_frame_equal(fast.quarantine, text.quarantine, check_exact=True)
    assert fast.readings[optional].isna().all().all()
    assert not set(fast.quarantine["column"]) & set(optional)
    assert len(fast.quarantine) == 4  # "" and "-9999" in each of the two required columns
