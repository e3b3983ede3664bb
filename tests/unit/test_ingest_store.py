"""The ingestion cache's storage format: exact round trips, smaller than a pickle, and a
clear error for bytes that are not a stored result."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd
import pytest
from prefect._internal.result_records import ResultRecord, ResultRecordMetadata
from prefect.serializers import PickleSerializer

from yieldflow.ingest.dataset import IngestionResult, ingest_dataset
from yieldflow.ingest.store import (
    IngestStoreError,
    _parquet_bytes,
    pack_ingestion,
    parquet_round_trips,
    unpack_ingestion,
)
from yieldflow.io.storage import open_source
from yieldflow.tasks.ingestion import IngestionSerializer


@pytest.fixture(scope="module")
def ingested(small_dataset) -> IngestionResult:
    result = ingest_dataset(open_source(str(small_dataset)))
    assert len(result.quarantine) > 0  # the generated logger faults: both encodings used
    return result


def assert_same(a: IngestionResult, b: IngestionResult) -> None:
    for name in ("readings", "harvests", "farms", "quarantine"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert a.accounting == b.accounting
    assert a.notes == b.notes


def test_a_real_ingestion_result_comes_back_identical(ingested):
    with_notes = dataclasses.replace(ingested, notes=["a note, kept"])
    assert_same(unpack_ingestion(pack_ingestion(with_notes)), with_notes)


def test_readings_go_as_parquet_and_the_object_typed_quarantine_as_pickle(ingested):
    assert parquet_round_trips(ingested.readings)
    assert parquet_round_trips(ingested.harvests)
    assert not parquet_round_trips(ingested.quarantine)  # plain object text columns


def test_the_prefect_record_is_much_smaller_than_the_default_pickle_one(ingested):
    def record(serializer) -> bytes:
        meta = ResultRecordMetadata(serializer=serializer, storage_key="k")
        return ResultRecord(result=ingested, metadata=meta).serialize()

    compact, pickled = record(IngestionSerializer()), record(PickleSerializer())
    assert len(compact) * 3 < len(pickled), (len(compact), len(pickled))
    # What a cache hit does: the record names its serializer, which is looked up by type.
    assert_same(ResultRecord.deserialize(compact).result, ingested)


def series_cases() -> dict[str, pd.Series]:
    utc = pd.Series(
        pd.to_datetime(["2024-01-01", None, "2024-03-01T00:00:00.000000001"], format="ISO8601")
    )
    utc = utc.astype("datetime64[ns]").dt.tz_localize("UTC")
    return {
        "str": pd.Series(["a", None, "c"], dtype=pd.StringDtype(na_value=np.nan)),
        "string[python]": pd.Series(["a", None, "c"], dtype="string[python]"),
        "float64": pd.Series([1.5, np.nan, -0.0]),
        "float32": pd.Series([1.5, np.nan, 2.0], dtype="float32"),
        "int32": pd.Series([1, 2, 3], dtype="int32"),
        "Int64": pd.Series([1, None, 3], dtype="Int64"),
        "bool": pd.Series([True, False, True]),
        "datetime64[ns]": utc.dt.tz_localize(None),
        "datetime64[ns, UTC]": utc,
        "datetime64[ns, Europe/Berlin]": utc.dt.tz_convert("Europe/Berlin"),
        "category": pd.Series(["a", "b", "a"], dtype="category"),
        "object": pd.Series(["a", None, 1], dtype=object),
    }


@pytest.mark.parametrize("name", list(series_cases()))
def test_parquet_is_chosen_only_where_it_gives_the_frame_back_identical(name):
    frame = pd.DataFrame({"x": series_cases()[name], "n": [1.0, 2.0, 3.0]})
    if parquet_round_trips(frame):
        back = pd.read_parquet(io.BytesIO(_parquet_bytes(frame)))
        pd.testing.assert_frame_equal(back, frame, check_exact=True)
    # Whichever encoding is chosen, the packed result is identical.
    result = IngestionResult(frame, frame, frame, frame, _accounting())
    assert_same(unpack_ingestion(pack_ingestion(result)), result)


def test_a_non_default_index_is_pickled_and_kept():
    frame = pd.DataFrame({"x": [1.0, 2.0]}, index=[5, 3])
    assert not parquet_round_trips(frame)
    result = IngestionResult(frame, frame, frame, frame, _accounting())
    assert_same(unpack_ingestion(pack_ingestion(result)), result)


@pytest.mark.parametrize("blob", [b"", b"\n", b"not json\n", b'{"format": 99}\n', b"[1]\n"])
def test_bytes_that_are_not_a_stored_result_raise_one_clear_error(blob):
    with pytest.raises(IngestStoreError, match="not a stored ingestion result"):
        unpack_ingestion(blob)


def _accounting():
    from yieldflow.ingest.accounting import IngestionAccounting

    return IngestionAccounting(rows_read=3, rows_accepted=3)
