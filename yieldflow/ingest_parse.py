"""Parsing for ingestion: files' bytes -> one table of strings with `_piece` and `_line`.

Every cell stays text so a bad value can be reported exactly as written; columns asked for
as `categorical` come as categoricals of that text (readings repeat a few thousand distinct
values, so each is stored and judged once). parse_numeric reads plain CSV whose value
cells are all numbers (or empty) as floats instead, and keeps the parsed text so that the
few cells a check reports can still be quoted as written (CellText). CSV must be UTF-8
with a header row; Parquet becomes the same string table, so one set of rules in
yieldflow.validation serves both.
Each file is checked on its own (encoding, header, field count per record, all vectorised
over its bytes), then CSV files that share a header are parsed in a single read_csv call:
exports split per day mean thousands of small files, and per-call overhead, not parsing,
would otherwise dominate. In plain CSV (no quotes, blank lines or lone CRs) a record is a
line, and Arrow's parser refuses any record with the wrong number of fields, so those are
only counted, and set aside, once Arrow has refused a text (check_fields).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

from yieldflow.storage import DataSource

# A whitespace-only line: inside, at the start, at the end (separate: much faster than `^|`).
_BLANK_LINES = (
    re.compile(rb"\n[ \t\r]*\n").search,
    re.compile(rb"[ \t\r]*\n").match,
    re.compile(rb"\n[ \t\r]+\Z").search,
)


_DICTIONARY = pa.dictionary(pa.int32(), pa.string())


_SPACE_OR_NEWLINE = np.zeros(256, dtype=bool)  # by byte value: " ", "\t", "\r", "\n"
_SPACE_OR_NEWLINE[list(b" \t\r\n")] = True


class FileParseError(Exception):
    """A file that cannot be parsed at all; the message is the one-line reason."""


class _FieldsUnchecked(Exception):
    """Arrow refused a text whose pieces' field counts were not checked yet."""


class _NotNumeric(Exception):
    """A cell of a column asked for as numbers does not read as one."""


@dataclass
class Piece:
    """One checked file, ready to parse: its header, good records and their line numbers.

    `line` is the 1-based physical line in a CSV file (header = 1) and the 1-based row
    number in a Parquet file. Records with the wrong number of fields are kept aside in
    `bad_lines` / `bad_text` (the row, not the file, is at fault).
    """

    key: str
    names: list[str]
    lines: np.ndarray
    header: bytes = b""
    body: bytes = b""
    table: pd.DataFrame | None = None  # Parquet: already a string table
    bad_lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    bad_text: list[str] = field(default_factory=list)
    plain: bool = False  # CSV without quotes, blank lines or lone CRs (see _read_plain)
    # A plain piece's field counts are left to Arrow, which refuses a record with too few
    # or too many; only then are they counted (check_fields) and the bad ones set aside.
    fields_checked: bool = True

    @property
    def bad_reason(self) -> str:
        return f"wrong number of fields (header has {len(self.names)})"


def open_piece(source: DataSource, key: str) -> Piece:
    """Read and check one file; raise FileParseError with a one-line reason if unusable."""
    try:
        data = source.read_bytes(key)
    except OSError as exc:
        return piece_from_bytes(key, exc)
    return piece_from_bytes(key, data)


def piece_from_bytes(key: str, data: bytes | OSError) -> Piece:
    """Check one file's content (or the error reading it raised) as open_piece does."""
    if isinstance(data, OSError):
        raise FileParseError(f"cannot read file: {one_line(data)}")
    if key.lower().endswith(".parquet"):
        table = _parquet_strings(data)
        return Piece(key, list(table.columns), np.arange(1, len(table) + 1), table=table)
    return _csv_piece(key, data)


def split_records(data: bytes, size: int) -> list[tuple[bytes, int]] | None:
    """A large plain CSV file as texts of about `size` bytes cut at record boundaries.

    Each text is the header line plus whole records, paired with the number of physical
    lines to add to its piece's line numbers (the header is line 1 of every text), so a
    file bigger than a batch is parsed and checked a text at a time, not as one string
    table. None (parse the file whole) unless each text's checks in _csv_piece give what
    the whole file's would: UTF-8 without NUL bytes, no quotes, blank lines or lone CRs,
    and at least two texts. Newlines are ASCII, so no cut splits a character.
    """
    data = data.removeprefix(codecs.BOM_UTF8)
    if (
        len(data) <= size
        or data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        or b"\x00" in data
        or b'"' in data
        or data.count(b"\r") != data.count(b"\r\n")
        or _blank_lines(data)
        or not _is_utf8(data)
    ):
        return None
    start = data.find(b"\n") + 1
    if start == 0 or start >= len(data) - size:
        return None
    header, lines_before, texts = data[:start], 1, []
    while start < len(data):
        stop = data.find(b"\n", start + size - 1) + 1 or len(data)
        texts.append((header + data[start:stop], lines_before - 1))
        lines_before += data.count(b"\n", start, stop)
        start = stop
    return texts


def _is_utf8(data: bytes) -> bool:
    if data.isascii():  # no copy: decoding would build the whole file as a str
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def parse_pieces(
    pieces: list[Piece], categorical: Collection[str] = ()
) -> tuple[pd.DataFrame, dict[str, str]]:
    """All pieces as one string table (`_piece` = index into `pieces`), and failures.

    The `categorical` columns are categoricals of the same text. Should a shared read_csv
    call fail, its files are retried one by one so the failure names the file; a file that
    fails is left out and returned as {key: reason}.
    """
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    frames, failures = [], {}
    for i, piece in enumerate(pieces):
        if piece.table is not None:
            frames.append(piece.table.assign(_piece=i, _line=piece.lines))
        else:
            groups[tuple(piece.names)].append(i)
    for members in groups.values():
        try:
            frames.append(_parse_group(pieces, members, categorical)[0])
        except FileParseError:
            for i in members:
                try:
                    frames.append(_parse_group(pieces, [i], categorical)[0])
                except FileParseError as exc:
                    failures[pieces[i].key] = str(exc)
    if not frames:
        return pd.DataFrame({"_piece": [], "_line": []}, dtype="int64"), failures
    return _joined_tables(frames, categorical), failures


def _joined_tables(frames: list[pd.DataFrame], categorical: Collection[str]) -> pd.DataFrame:
    """The tables one after another; `categorical` columns stay categoricals (a plain
    concat makes differing categories into Python objects), missing where a table has no
    such column."""
    if len(frames) == 1:
        return frames[0]
    joined = {}
    for name in [c for c in categorical if any(c in frame for frame in frames)]:
        parts = [_as_categorical(frame.pop(name)) if name in frame else None for frame in frames]
        none = next(p for p in parts if p is not None).categories[:0]
        joined[name] = union_categoricals(
            [
                pd.Categorical.from_codes(np.full(len(frame), -1), categories=none)
                if part is None
                else part
                for part, frame in zip(parts, frames, strict=True)
            ],
            ignore_order=True,
        )
    table = pd.concat(frames, ignore_index=True)
    return table.assign(**joined) if joined else table


def _as_categorical(column: pd.Series) -> pd.Categorical:
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.array
    return pd.Categorical(column)


def parse_numeric(pieces: list[Piece], numeric: Collection[str]) -> tuple[pd.DataFrame, CellText]:
    """Plain CSV pieces as one table (as parse_pieces makes it) with the `numeric` columns
    as float64, empty cells NaN, and the text behind every cell.

    Logger exports are nearly all numbers: Arrow reads them straight into floats at half
    the cost of text, and a check needs the text of the few cells it reports, which
    CellText finds in the parsed text. Raises NotNumeric, the bodies given back, when a
    piece is not plain CSV or a cell of a `numeric` column does not read as a number:
    parse_pieces then reads everything as text, and reports what fails as usual.
    """
    if any(p.table is not None or not p.plain for p in pieces):
        raise NotNumeric("not all plain CSV")
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, piece in enumerate(pieces):
        groups[tuple(piece.names)].append(i)
    parsed: list[tuple[list[int], pd.DataFrame, bytes, np.ndarray]] = []
    try:
        for members in groups.values():
            parsed.append((members, *_parse_group(pieces, members, (), numeric)))
    except (_NotNumeric, FileParseError) as exc:
        for members, _, text, sizes in parsed:  # as they were: parse_pieces starts afresh
            _give_back(pieces, members, text, sizes)
        raise NotNumeric(str(exc) or "a cell is not a number") from None
    cells = CellText([(text, pieces[m[0]].names, len(table)) for m, table, text, _ in parsed])
    if not parsed:
        return pd.DataFrame({"_piece": [], "_line": []}, dtype="int64"), cells
    return _joined_tables([table for _, table, _, _ in parsed], ()), cells


class NotNumeric(Exception):
    """parse_numeric cannot read these pieces (see there); parse them as text."""


class CellText:
    """The text of single cells of a table that parse_numeric read from plain CSV texts.

    Each text gave the table's next rows, and in plain CSV a record is a line: row r of a
    text's rows is its line r + 1 (the header is line 0). Newlines are found on the first
    call that needs them.
    """

    def __init__(self, texts: list[tuple[bytes, list[str], int]]) -> None:
        self.texts = texts  # (text, its column names, its rows)
        self.firsts = np.cumsum([0, *(rows for _, _, rows in texts)])
        self._breaks: dict[int, np.ndarray] = {}

    def has(self, column: str) -> bool:
        """Whether any of the texts has this column."""
        return any(column in names for _, names, _ in self.texts)

    def cells(self, column: str, rows: np.ndarray) -> list[str | None]:
        """The cells of `column` at table rows `rows` (ascending), exactly as written;
        None where the row's file has no such column."""
        found: list[str | None] = []
        cuts = np.searchsorted(rows, self.firsts[1:-1])
        for at, ((text, names, _), part) in enumerate(
            zip(self.texts, np.split(rows, cuts), strict=True)
        ):
            if column not in names:
                found += [None] * part.size
                continue
            if not part.size:
                continue
            if at not in self._breaks:
                self._breaks[at] = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 10)
            field, breaks, local = names.index(column), self._breaks[at], part - self.firsts[at]
            for start, end in zip(
                (breaks[local] + 1).tolist(), breaks[local + 1].tolist(), strict=True
            ):
                line = text[start:end].removesuffix(b"\r")
                found.append(line.split(b",")[field].decode())
        return found


def read_table(source: DataSource, key: str) -> tuple[pd.DataFrame, Piece]:
    """One file as a string table (with `_line`), and its piece (for the bad records)."""
    piece = open_piece(source, key)
    table, failures = parse_pieces([piece])
    if failures:
        raise FileParseError(failures[key])
    return table.drop(columns="_piece"), piece


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


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _parse_group(
    pieces: list[Piece],
    members: list[int],
    categorical: Collection[str],
    numeric: Collection[str] = (),
) -> tuple[pd.DataFrame, bytes, np.ndarray]:
    """The members' records as one table, the text it was read from, and where in it each
    body starts (then the text's end). The bodies are handed over to that joined text while
    it parses (not held twice), and given back if it fails, for one-by-one retries."""
    first = pieces[members[0]]
    sizes = np.cumsum([len(first.header), *(len(pieces[i].body) for i in members)])
    text = b"".join([first.header, *(pieces[i].body for i in members)])
    for i in members:
        pieces[i].body = b""
    try:
        return _parse_text(text, pieces, members, categorical, numeric), text, sizes
    except (FileParseError, _NotNumeric, _FieldsUnchecked) as exc:
        _give_back(pieces, members, text, sizes)
        if not isinstance(exc, _FieldsUnchecked):
            raise
    # Outside the except block, whose traceback would keep the joined text alive.
    del text
    for i in members:
        check_fields(pieces[i])
    return _parse_group(pieces, members, categorical, numeric)


def _give_back(pieces: list[Piece], members: list[int], text: bytes, sizes: np.ndarray) -> None:
    """Each member's body back from the text _parse_group joined them into (`sizes`: where
    each body starts, then the text's end)."""
    for i, start, end in zip(members, sizes[:-1], sizes[1:], strict=True):
        pieces[i].body = text[start:end]


def _parse_text(
    text: bytes,
    pieces: list[Piece],
    members: list[int],
    categorical: Collection[str],
    numeric: Collection[str] = (),
) -> pd.DataFrame:
    first = pieces[members[0]]
    plain = all(pieces[i].plain for i in members)
    table = None
    if plain:
        coded = [i for i, name in enumerate(first.names) if name in categorical]
        floats = [i for i, name in enumerate(first.names) if name in numeric]
        table = _read_plain(text, len(first.names), coded, floats)
        if table is None and not all(pieces[i].fields_checked for i in members):
            raise _FieldsUnchecked  # count them, set bad records aside, then try again
        if table is None and numeric:
            raise _NotNumeric
    if table is None:
        try:
            table = pd.read_csv(io.BytesIO(text), dtype=str, keep_default_na=False, index_col=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            raise FileParseError(one_line(exc)) from None
    lines = [pieces[i].lines for i in members]
    if len(table) != sum(map(len, lines)) or len(table.columns) != len(first.names):
        raise FileParseError("rows do not line up with lines (stray quote character?)")
    table.columns = first.names
    table["_piece"] = np.repeat(members, [len(x) for x in lines])
    table["_line"] = np.concatenate(lines)
    return table


def _read_plain(
    text: bytes, width: int, categorical: list[int], floats: Collection[int] = ()
) -> pd.DataFrame | None:
    """Plain CSV (no quotes, blank lines or lone CRs) as strings, parsed by Arrow.

    On such text Arrow and pandas' parser split fields identically, and Arrow makes its
    strings without a Python object per cell (several times faster, a fraction of the
    memory); the columns at the `categorical` positions it dictionary-encodes as it reads,
    those at `floats` it reads as float64 (an empty cell is NaN). None when Arrow refuses
    the text: pandas' parser then decides and reports.
    """
    names = [f"c{i}" for i in range(width)]  # the real names may repeat "" or clash
    types = {
        n: pa.float64() if i in floats else _DICTIONARY if i in categorical else pa.large_string()
        for i, n in enumerate(names)
    }
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(text),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                null_values=[""],  # for the floats: only an empty cell is missing
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return table.to_pandas(self_destruct=True)


def _csv_piece(key: str, data: bytes) -> Piece:
    """Check a CSV file's bytes and split them into header, good records and bad records."""
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
    breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    blank = _blank_lines(data, breaks)
    lone_cr = b"\r" in data and data.count(b"\r") != data.count(b"\r\n")
    if not (blank or lone_cr or b'"' in data):
        return _plain_piece(key, data, breaks)
    starts, ends, fields, lines = _records(data, blank, breaks)  # record 0 is the header
    header = data[starts[0] : ends[0]]
    names = _header_names(header)
    good = fields == len(names)
    good[0] = False
    bad = np.flatnonzero(~good)[1:]
    body = _drop_records(data, starts[bad], ends[bad])[ends[0] + 1 :]  # bad ones follow it
    if body and not body.endswith(b"\n"):
        body += b"\n"
    bad_text = _record_texts(data, starts[bad], ends[bad])
    return Piece(key, names, lines[good], header + b"\n", body, None, lines[bad], bad_text)


def _plain_piece(key: str, data: bytes, breaks: np.ndarray) -> Piece:
    """A file without quotes, blank lines or lone CRs: a record is a line (header = line 1),
    so its lines are known without splitting it; the field counts wait (check_fields)."""
    end = breaks[0] if breaks.size else len(data)
    names = _header_names(data[:end])
    body = data[end + 1 :]
    if body and not body.endswith(b"\n"):
        body += b"\n"
    records = breaks.size - 1 + (len(body) > 0 and not data.endswith(b"\n"))
    lines = np.arange(2, max(records, 0) + 2)
    return Piece(key, names, lines, data[:end] + b"\n", body, plain=True, fields_checked=False)


def check_fields(piece: Piece) -> None:
    """Set aside a plain piece's records with the wrong number of fields, as _csv_piece
    does for other files: their lines and text go to bad_lines / bad_text, the rest stays."""
    if piece.fields_checked:
        return
    body = piece.body  # whole records, each ending in a newline
    if body:
        breaks = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == ord("\n"))
        starts, ends, fields, _ = _records(body, False, breaks)
        if fields.size != piece.lines.size:
            raise AssertionError(f"{piece.key}: {fields.size} records, {piece.lines.size} lines")
        bad = np.flatnonzero(fields != len(piece.names))
        if bad.size:
            piece.bad_lines = piece.lines[bad]
            piece.bad_text = _record_texts(body, starts[bad], ends[bad])
            piece.lines = np.delete(piece.lines, bad)
            piece.body = b""
            piece.body = _drop_records(body, starts[bad], ends[bad])
    piece.fields_checked = True


def _header_names(header: bytes) -> list[str]:
    """The column names of a header record; FileParseError when they cannot be used."""
    try:
        names = [n.strip() for n in next(csv.reader(io.StringIO(header.decode())))]
    except csv.Error as exc:
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


def _record_texts(data: bytes, starts: np.ndarray, ends: np.ndarray) -> list[str]:
    """Malformed records as reported: decoded, stripped, at most 200 characters."""
    return [data[s:e].decode().strip()[:200] for s, e in zip(starts, ends, strict=True)]


def _records(
    data: bytes, blank: bool, breaks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Non-blank CSV records: byte start, byte end, field count, first physical line.

    `breaks` are the positions of every newline. Quote aware (a newline or comma inside
    quotes does not count); the cheaper path for files without quotes or blank lines
    matters when there are thousands of small files.
    """
    b = np.frombuffer(data, dtype=np.uint8)
    comma = b == ord(",")
    lines = None if b'"' in data else np.arange(1, breaks.size + 2)
    if lines is None:
        quotes = b == ord('"')
        quoted = np.bitwise_xor.accumulate(quotes.view(np.uint8)).view(bool)
        if quoted[-1]:  # the rest of the file would vanish into one field
            line = np.searchsorted(breaks, np.flatnonzero(quotes)[-1]) + 1
            raise FileParseError(f"unterminated quoted field starting on line {line}")
        lines = np.concatenate(([1], np.flatnonzero(~quoted[breaks]) + 2))
        breaks = breaks[~quoted[breaks]]
        comma &= ~quoted
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [b.size]))
    # Commas per record, counted run by run; a start at the very end (after a final
    # newline) begins the empty tail, which is never used.
    inside = starts[starts < b.size]
    fields = np.ones(starts.size, dtype=np.int64)
    fields[: inside.size] += np.add.reduceat(comma, inside, dtype=np.int64)
    if blank:  # whitespace-only lines (_blank_lines) are not records
        ink = np.flatnonzero((b != 32) & (b != 9) & (b != 13) & (b != 10))
        used = np.searchsorted(ink, ends) > np.searchsorted(ink, starts)
    else:
        used = starts < b.size  # only the empty tail after a final newline is unused
    return starts[used], ends[used], fields[used], lines[used]


def _blank_lines(data: bytes, breaks: np.ndarray | None = None) -> bool:
    """Whether a line holds only whitespace (_BLANK_LINES), with cheap tests first.

    A blank line inside needs a newline followed by a newline or whitespace: the bytes
    after the newlines (at `breaks`, found if not given) are looked up before the regex
    runs; one at the end is found from the end backwards (a search for the end anchor
    would scan the whole file).
    """
    inner, first, last = _BLANK_LINES
    b = np.frombuffer(data, dtype=np.uint8)
    if breaks is None:
        breaks = np.flatnonzero(b == ord("\n"))
    after = b[breaks[breaks < b.size - 1] + 1]
    if _SPACE_OR_NEWLINE[after].any() and inner(data):
        return True
    if first(data):
        return True
    end = len(data)
    while end and data[end - 1] in b" \t\r":  # trailing whitespace: a few bytes at most
        end -= 1
    return end < len(data) and last(data, end - 1) is not None


def _drop_records(data: bytes, starts: np.ndarray, ends: np.ndarray) -> bytes:
    if starts.size == 0:
        return data
    keep = np.ones(len(data), dtype=bool)
    for start, end in zip(starts, ends, strict=True):  # malformed records only: few
        keep[start : end + 1] = False
    return np.frombuffer(data, dtype=np.uint8)[keep].tobytes()


def _parquet_strings(data: bytes) -> pd.DataFrame:
    """A Parquet file as the same string table a CSV gives (nulls become empty cells)."""
    try:
        frame = pq.read_table(pa.BufferReader(data)).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileParseError(f"not a readable Parquet file: {one_line(exc)}") from None
    table = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            text = column.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif pd.api.types.is_datetime64_dtype(column.dtype):
            text = column.dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
        else:
            text = column.astype(str)
        table[str(name).strip()] = text.where(column.notna(), "").astype(str)
    return pd.DataFrame(table, index=range(len(frame)))
