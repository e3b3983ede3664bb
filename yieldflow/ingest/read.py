"""Reading dataset files: each file's bytes checked, then its records handed to DuckDB.

A file is checked whole before any row is read (encoding, binary content, line ends,
header), so a file that cannot be used is reported with one reason and adds no row. What
passes is a `SourceFile`. Plain CSV (no quotes, no lone CR) is read by DuckDB as one text
column, one row per physical line, so each record keeps its line number (DuckDB's CSV
reader has no line-number column, and skips blank lines when it splits fields itself);
the fields are split in SQL (yieldflow.ingest.validation). Quoted CSV and Parquet, rare in logger
exports, are read here (csv module, pyarrow) into the same shape: file, line, fields.

`line` is the 1-based physical line in a CSV file (header = 1; a quoted record that spans
lines has its first), the 1-based row number in a Parquet file.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# Whitespace that makes a line blank (blank lines are not records).
BLANK = " \t\r"


class FileParseError(Exception):
    """A file that cannot be parsed at all; the message is the one-line reason."""


@dataclass
class SourceFile:
    """One checked file: its key, header names and how its records are read.

    `plain`: DuckDB reads it line by line from `path`. Otherwise `rows` holds its
    records as (line, fields, text): `fields` None for a record whose text is reported.
    """

    key: str
    names: list[str]
    path: str = ""
    plain: bool = False
    lines: int = 0  # plain: physical lines after the header, blank ones included
    rows: list[tuple[int, list[str], str]] = field(default_factory=list)

    @property
    def width(self) -> int:
        return len(self.names)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def open_file(key: str, data: bytes | OSError, path: str = "") -> SourceFile:
    """Check one file's content (or the error reading it raised); FileParseError with a
    one-line reason when it cannot be used. `path` is where DuckDB can read it."""
    if isinstance(data, OSError):
        raise FileParseError(f"cannot read file: {one_line(data)}")
    if key.lower().endswith(".parquet"):
        return _parquet_file(key, data)
    data = data.removeprefix(codecs.BOM_UTF8)
    if not data or data.isspace():  # bytes.strip() would copy the file
        raise FileParseError("empty file")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # also UTF-32's BOMs
        raise FileParseError("not UTF-8 text (UTF-16 byte order mark); export the file as UTF-8")
    if b"\x00" in data:
        raise FileParseError("binary content (NUL bytes): not a CSV text file")
    try:
        if not data.isascii():  # isascii makes no copy of the file as a str
            data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileParseError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "export the file as UTF-8"
        ) from None
    if b"\r" in data and b"\n" not in data:
        raise FileParseError("lines end in CR only (old Mac format); export with LF or CRLF")
    end = data.find(b"\n")
    header = data[: end if end >= 0 else len(data)]
    plain = (
        path != ""
        and header.strip(BLANK.encode()) != b""
        and b'"' not in data
        and b"\x01" not in data  # DuckDB's delimiter for whole lines
        and (b"\r" not in data or data.count(b"\r") == data.count(b"\r\n"))
    )
    if plain:
        lines = data.count(b"\n") - data.endswith(b"\n")
        return SourceFile(key, header_names(header.decode()), path, plain=True, lines=lines)
    return _quoted_file(key, data.decode())


def header_names(header: str) -> list[str]:
    """The column names of a header record; FileParseError when they cannot be used."""
    try:
        names = [n.strip() for n in next(csv.reader([header.rstrip("\r\n")]))]
    except (csv.Error, StopIteration) as exc:
        raise FileParseError(f"header row is not valid CSV: {one_line(exc)}") from None
    if len(names) == 1 and (sep := next((s for s in ";\t|" if s in names[0]), None)):
        raise FileParseError(
            f"not comma-separated: the header row is split by {sep!r}; export with ',' "
            "as the delimiter"
        )
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise FileParseError(f"duplicate column name(s): {', '.join(dupes)}")
    return names


def check_columns(names: list[str], required, known) -> list[str]:
    """Fail the file on a missing required column; return the unknown extra columns."""
    missing = [c for c in required if c not in names]
    if missing and not set(names) & set(known):
        first = ",".join(names)[:80]
        raise FileParseError(
            f"no header row: first line {first!r} names none of the expected columns"
        )
    if missing:
        raise FileParseError(f"missing required column(s): {', '.join(missing)}")
    return [c for c in names if c not in known]


def _quoted_file(key: str, text: str) -> SourceFile:
    """CSV that DuckDB cannot read line by line: records by the csv module, each with the
    physical line it starts on; blank lines are skipped, as DuckDB's rows are."""
    if text.count('"') % 2:  # the rest of the file would vanish into one field
        line = text.count("\n", 0, text.rfind('"')) + 1
        raise FileParseError(f"unterminated quoted field starting on line {line}")
    lines = io.StringIO(text, newline="\n")  # lines end at LF only, as DuckDB's do
    taken: list[str] = []
    reader = csv.reader(_recorded(lines, taken))
    names: list[str] | None = None
    rows: list[tuple[int, list[str], str]] = []
    while True:
        first = reader.line_num + 1
        taken.clear()
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise FileParseError(f"not valid CSV: {one_line(exc)} (line {first})") from None
        record = "".join(taken)
        if not record.strip(BLANK + "\n"):
            continue
        if names is None:
            names = header_names(record)
        else:
            rows.append((first, fields, record.strip()[:200]))
    if names is None:
        raise FileParseError("empty file")
    return SourceFile(key, names, rows=rows)


def _recorded(lines, taken: list[str]):
    for line in lines:
        taken.append(line)
        yield line


def _parquet_file(key: str, data: bytes) -> SourceFile:
    """A Parquet file as text cells, the way a CSV export would write them (nulls empty)."""
    try:
        frame = pq.read_table(pa.BufferReader(data)).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileParseError(f"not a readable Parquet file: {one_line(exc)}") from None
    columns = []
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            text = column.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif pd.api.types.is_datetime64_dtype(column.dtype):
            text = column.dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
        else:
            text = column.astype(str)
        columns.append(text.where(column.notna(), "").astype(str).tolist())
    names = [str(name).strip() for name in frame.columns]
    rows = [(i + 1, list(cells), "") for i, cells in enumerate(zip(*columns, strict=True))]
    return SourceFile(key, names, rows=rows)
