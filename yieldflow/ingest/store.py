"""The ingestion result as compact bytes: what Prefect's ingestion cache stores.

Why: the cache keeps every accepted reading so a re-run skips re-reading the files. With
Prefect's default pickle serializer (pickled, base64'd, then wrapped in a JSON record), 1M
readings took 1.6 s and +445 MB of peak memory (6x the readings) to persist on every fresh
run, and 98 MB on disk. As Parquet the readings shrink ~6x (sensor values repeat, so
dictionary encoding pays), and the pickle-base64-JSON chain then works on that.

Layout: one JSON header line (format, accounting, notes, and each table's encoding and
size), then the tables' bytes in header order. A table is stored as Parquet only when its
columns are of dtypes that come back identical (numbers, booleans, datetimes, pandas
strings) under a default index; any other table (the quarantine, whose text columns are
plain objects) is pickled as is, so the round trip is always exact.
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import asdict, fields

import numpy as np
import pandas as pd

from yieldflow.ingest.accounting import IngestionAccounting
from yieldflow.ingest.dataset import IngestionResult

FORMAT = 1
TABLES = tuple(f.name for f in fields(IngestionResult) if f.name not in ("accounting", "notes"))
# lz4: as small as zstd on sensor tables (dictionary encoding does most of the work) and
# the fastest to write, which happens on every fresh run; reads happen on cache hits only.
PARQUET_COMPRESSION = "lz4"
EXACT_NUMPY_DTYPES = frozenset(
    {"bool", "int32", "int64", "float32", "float64", "datetime64[us]", "datetime64[ns]"}
)


class IngestStoreError(ValueError):
    """Bytes that are not a stored ingestion result of this format."""


def pack_ingestion(result: IngestionResult) -> bytes:
    """The result as bytes that unpack_ingestion turns back into an equal result."""
    parts: list[bytes] = []
    tables = []
    for name in TABLES:
        frame: pd.DataFrame = getattr(result, name)
        encoding = "parquet" if parquet_round_trips(frame) else "pickle"
        data = _parquet_bytes(frame) if encoding == "parquet" else pickle.dumps(frame, 5)
        tables.append({"name": name, "encoding": encoding, "size": len(data)})
        parts.append(data)
    header = {
        "format": FORMAT,
        "accounting": asdict(result.accounting),
        "notes": list(result.notes),
        "tables": tables,
    }
    return b"".join([json.dumps(header).encode(), b"\n", *parts])


def unpack_ingestion(blob: bytes) -> IngestionResult:
    newline = blob.find(b"\n")
    try:
        header = json.loads(blob[:newline]) if newline > 0 else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise IngestStoreError(f"not a stored ingestion result of format {FORMAT}")
    view = memoryview(blob)[newline + 1 :]
    frames: dict[str, pd.DataFrame] = {}
    for table in header["tables"]:
        data, view = view[: table["size"]], view[table["size"] :]
        if table["encoding"] == "parquet":
            frames[table["name"]] = pd.read_parquet(io.BytesIO(data))
        else:
            frames[table["name"]] = pickle.loads(data)
    return IngestionResult(
        **frames,
        accounting=IngestionAccounting(**header["accounting"]),
        notes=list(header["notes"]),
    )


def parquet_round_trips(frame: pd.DataFrame) -> bool:
    """Whether Parquet gives this frame back identical: a 0..n-1 index, string column
    names, and only dtypes Parquet restores exactly (not plain object columns)."""
    index = frame.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        return False
    if not all(isinstance(c, str) for c in frame.columns) or frame.columns.has_duplicates:
        return False
    return all(_restored_exactly(dtype) for dtype in frame.dtypes)


def _restored_exactly(dtype: object) -> bool:
    if isinstance(dtype, pd.StringDtype):  # pandas' default str; pd.NA strings come back as it
        return dtype == pd.StringDtype(na_value=np.nan)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return dtype.unit in ("us", "ns")  # Parquet has no seconds unit
    return str(dtype) in EXACT_NUMPY_DTYPES


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, compression=PARQUET_COMPRESSION)
    return buffer.getvalue()
