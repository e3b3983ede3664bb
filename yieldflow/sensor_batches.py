"""Sensor files checked a batch of whole farm folders at a time, two batches at once.

Every check is per row except duplicates, and a kept row's farm_id is its folder's, so a
duplicate never spans folders: batches of whole folders give exactly the result of checking
all rows at once. Files are read and opened (the per-file checks of yieldflow.ingest_parse)
on the caller's thread; a worker thread parses a batch, checks its rows (yieldflow.validation)
and resolves its duplicates; a file bigger than BATCH_BYTES is streamed a text of about
BATCH_BYTES at a time. Memory holds the readings kept so far plus, per batch in flight, its
text and typed rows, however big the dataset or a single file.
"""

from __future__ import annotations

import ctypes
import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.types import union_categoricals

from yieldflow import validation as v
from yieldflow.concurrency import ordered_map
from yieldflow.contract import REQUIRED_SENSOR_COLUMNS, SENSOR_VALUE_COLUMNS, SENSORS_DIR
from yieldflow.ingest_parse import (
    CellText,
    FileParseError,
    NotNumeric,
    Piece,
    check_columns,
    parse_numeric,
    parse_pieces,
    piece_from_bytes,
    split_records,
)
from yieldflow.ingest_run import Findings, IngestionError, bad_records
from yieldflow.storage import read_files

SENSOR_COLUMNS_KNOWN: tuple[str, ...] = ("farm_id", "timestamp", *SENSOR_VALUE_COLUMNS)
# Sensor files are checked in batches of whole farm folders of about this many bytes: big
# enough that per-call overhead does not matter, small enough to bound the text in memory.
# A batch in flight costs ~6x its text at its peak (text, Arrow's parse, typed columns);
# 12 MiB kept 1M rows under 3x the readings where 16 MiB did not, as fast at 1M and 5M.
BATCH_BYTES = 12 * 2**20
# A dataset smaller than this many full batches per worker is cut into smaller ones, down to
# MIN_BATCH_BYTES: a 60 MB dataset in 12 MiB batches is five, the last checked by one worker
# alone, and two full batches in flight are most of its peak. At 1M rows 8-10 MiB batches
# were as fast as 12 MiB and peaked at 2.6-2.7x the readings instead of 2.9-3.0x. More cuts
# cost time: each batch has ~50 ms of fixed work (8 objects of 3.5 MB: 0.85 s in two
# batches, 0.95-1.05 s in four); a file is streamed only when bigger than BATCH_BYTES.
BATCHES_PER_WORKER = 3
MIN_BATCH_BYTES = 2 * 2**20
# Batches checked at once, each on its own thread. Arrow, NumPy and most of pandas let go
# of the GIL: on 2 cores two threads checked 5M rows in 12 s instead of 19 s. Each costs
# a batch's working memory (~70 MiB), so more would buy little time for a lot of memory.
CHECK_WORKERS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)

try:  # glibc (Linux): malloc_trim returns the heap's free pages to the OS
    _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _MALLOC_TRIM = None


@contextmanager
def _system_allocator() -> Iterator[None]:
    """Arrow allocates from the C library's malloc while sensor files are checked.

    Its default, mimalloc, keeps the pages a thread freed in that thread's heap, and
    Arrow's CSV threads parse every batch: checked batches stayed resident, 0.7x the
    readings at 1M rows. glibc's malloc hands them back (see _release_freed_memory), and
    was as fast (benchmarks/findings.md). The pool is process-wide, so it is restored.
    """
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


class SensorFiles:
    """A dataset's sensor files, grouped by farm folder, their reading begun.

    From S3 the first downloads start here, so they overlap whatever the caller does
    before load_readings (ingestion checks farms.csv and harvests.csv meanwhile); a local
    folder is read file by file as the checks ask. close() stops what has not started.
    """

    def __init__(self, source, sensors: list[tuple[str, str]]) -> None:
        self.count = len(sensors)
        self.folders: dict[str, list[str]] = defaultdict(list)  # folder -> keys, as listed
        for key, folder in sensors:
            self.folders[folder].append(key)
        keys = [key for keys in self.folders.values() for key in keys]
        self.batch_bytes = batch_bytes(_listed_bytes(source, keys), CHECK_WORKERS)
        self.contents = read_files(source, keys)

    def close(self) -> None:
        close = getattr(self.contents, "close", None)
        if close is not None:
            close()


def _listed_bytes(source, keys: list[str]) -> int | None:
    """The files' total size if the source knows it without reading them, else None."""
    size_of = getattr(source, "listed_size", None)
    if size_of is None:
        return None
    total = 0
    for key in keys:
        size = size_of(key)
        if size is None:
            return None
        total += size
    return total


def batch_bytes(total: int | None, workers: int) -> int:
    """Bytes per batch: BATCH_BYTES, or less when the dataset would not give each worker
    BATCHES_PER_WORKER full ones (not under MIN_BATCH_BYTES); unknown size, BATCH_BYTES."""
    if total is None:
        return BATCH_BYTES
    share = total // (BATCHES_PER_WORKER * max(1, workers))
    return min(BATCH_BYTES, max(MIN_BATCH_BYTES, share))


@_system_allocator()
def load_readings(files: SensorFiles, timezones, now, run: Findings) -> pd.DataFrame:
    """The readings of every sensor file, checked, deduplicated and sorted by farm and
    time; the findings go to `run`. Batches are merged in their order, so the result does
    not depend on which thread finished first.
    """
    acc = run.accounting
    folders, contents = files.folders, files.contents
    headers: dict[tuple[str, ...], int] = {}  # header -> order first seen
    failed: list[tuple[tuple[tuple[str, ...], int], str, str]] = []
    done: list[dict[str, pd.Series]] = []
    batches = _opened_batches(folders, contents, timezones, now, files.batch_bytes)
    for batch in ordered_map(_checked, batches, CHECK_WORKERS, name="yieldflow-check"):
        before = acc.files_read + len(failed)  # positions count files in listing order
        run.absorb(batch.run)
        for names in batch.headers:
            headers.setdefault(names, len(headers))
        failed += [((names, before + at), key, why) for (names, at), key, why in batch.failed]
        done += batch.done
    # Parse failures go last, ordered as one parse of every file would meet them.
    for _, key, reason in sorted(failed, key=lambda f: (headers[f[0][0]], f[0][1])):
        run.fail_file(key, reason)
    if acc.files_read == 0:
        raise IngestionError(
            f"{SENSORS_DIR}/: no usable sensor file ({files.count} found under "
            f"{SENSORS_DIR}/<farm_id>/, {acc.files_failed} failed{run.first_failure})"
        )
    readings = _concat_columns(done, in_order=list(folders) == sorted(folders))
    acc.rows_accepted = len(readings)
    if readings.empty:
        top = pd.concat(run.found)["reason"].value_counts()
        raise IngestionError(
            f"{SENSORS_DIR}/: no sensor reading passed validation ({acc.rows_read} rows read; "
            f"most common problem: {top.index[0] if len(top) else 'no data rows'})"
        )
    return readings


def _opened_batches(
    folders: dict[str, list[str]], contents, timezones, now, batch_bytes: int
) -> Iterator[_Batch]:
    """The files, read in listing order and opened (the per-file checks), in batches of
    whole folders of at least `batch_bytes`. This runs on the caller's thread, ahead of the
    workers that parse and check the batches before it."""
    batch = _Batch(timezones, now, Findings())
    for folder, keys in folders.items():
        if batch.todo and batch.size >= batch_bytes:
            yield batch
            batch = _Batch(timezones, now, Findings())
        for key in keys:
            data = next(contents)[1]
            size = len(data) if isinstance(data, bytes) else 0
            batch.size += size
            texts = None
            if size > BATCH_BYTES and not key.lower().endswith(".parquet"):
                texts = split_records(data, BATCH_BYTES)
            if texts is not None:
                batch.todo.append((key, folder, texts))  # streamed by the worker
            elif piece := _open_sensor(key, data, batch.run):
                batch.todo.append((key, folder, piece))
            del data, texts
    if batch.todo or batch.run.accounting.files_failed:
        yield batch


def _checked(batch: _Batch) -> _Batch:
    """A batch's opened files parsed and checked, its duplicates resolved (on a worker)."""
    todo, batch.todo = batch.todo, []
    todo.reverse()  # pop() from the end: each file's text goes once parsed
    while todo:
        key, folder, opened = todo.pop()
        if isinstance(opened, Piece):
            batch.add(opened, folder)
        else:
            batch.stream(key, folder, opened)
        del opened
    batch.close()
    return batch


class _Batch:
    """The sensor files of one batch of whole farm folders, checked as they come.

    Opened files wait in `pending` and are parsed together (a file apart costs per-call
    overhead); a file too big for a batch is streamed; either way their rows are checked
    row by row into `typed`, and close() resolves duplicates over all of the batch's
    typed rows into `done`. Findings and counts go to the batch's own `run`. Parse failures
    are kept in `failed` as ((names, position in the batch), key, reason) for the caller to
    report in a global order, with `headers` in the order first seen.
    """

    def __init__(self, timezones: dict[str, str], now: pd.Timestamp, run: Findings) -> None:
        self.timezones, self.now, self.run = timezones, now, run
        self.pending: list[tuple[Piece, str]] = []
        self.typed: list[pd.DataFrame] = []
        self.done: list[dict[str, pd.Series]] = []
        self.failed: list[tuple[tuple[tuple[str, ...], int], str, str]] = []
        self.headers: dict[tuple[str, ...], int] = {}  # header -> order first seen
        # Filled by _opened_batches: (key, folder, opened Piece or a big file's texts).
        self.todo: list[tuple[str, str, Piece | list[tuple[bytes, int]]]] = []
        self.size = 0  # bytes read into the batch

    def add(self, piece: Piece, folder: str) -> None:
        self.pending.append((piece, folder))
        self.headers.setdefault(tuple(piece.names), len(self.headers))

    def stream(self, key: str, folder: str, texts: list[tuple[bytes, int]]) -> None:
        """One big plain CSV file, a text (from split_records) at a time.

        Its counts and entries are kept aside until every text has parsed: a text that
        fails fails the whole file, which then adds no row, as if it were parsed whole.
        """
        self._check_pending()  # the files before it are reported before it
        acc = self.run.accounting
        position = acc.files_read + len(self.failed)
        typed, found, names = [], [], None
        rows_read = quarantined = nulled = 0
        texts.reverse()  # pop() from the end releases each text once parsed
        while texts:
            text, offset = texts.pop()
            # The header is every text's, and split_records ruled out what else fails a
            # file, so only the first text can fail here.
            piece = (
                _open_sensor(key, text, self.run) if names is None else piece_from_bytes(key, text)
            )
            del text
            if piece is None:
                texts.clear()
                return
            if names is None:
                names = tuple(piece.names)
                self.headers.setdefault(names, len(self.headers))
            piece.lines += offset
            piece.bad_lines += offset
            table, failures, cells = _parsed([piece])  # hands the body over
            if failures:
                self.failed.append(((names, position), key, failures[key]))
                texts.clear()
                return
            bad = bad_records([piece])
            rows, entries = self._typed_rows(table, [(piece, folder)], cells)
            del cells
            typed += rows
            found += [bad, *entries]
            rows_read += len(bad) + sum(len(e) for e in entries[:1]) + sum(map(len, rows))
            quarantined += len(bad) + sum(len(e) for e in entries[:1])
            nulled += sum(len(e) for e in entries[1:])
        acc.files_read += 1
        self.run.note_extra(key, [c for c in names if c not in SENSOR_COLUMNS_KNOWN])
        self.run.found += found
        acc.rows_read += rows_read
        acc.rows_quarantined += quarantined
        acc.readings_nulled += nulled
        self.typed += typed

    def close(self) -> None:
        """Resolve the batch's duplicates and keep its readings."""
        self._check_pending()
        if self.typed:
            self.done.append(_deduplicated(self.typed, self.run))
        self.typed = []

    def _check_pending(self) -> None:
        """Parse the pending files together and check their rows into `typed`."""
        batch, self.pending = self.pending, []
        if not batch:
            return
        run = self.run
        table, failures, cells = _parsed([p for p, _ in batch])  # hands the bodies over
        position = run.accounting.files_read + len(self.failed)
        for i, (piece, _) in enumerate(batch):
            if piece.key in failures:
                names = tuple(piece.names)
                self.failed.append(((names, position + i), piece.key, failures[piece.key]))
        usable = [(p, f) for p, f in batch if p.key not in failures]
        _account_files([p for p, _ in usable], run)
        if not usable:
            return
        rows, (found, values_found) = self._typed_rows(table, batch, cells)
        del cells
        run.found += [found, values_found]
        run.accounting.rows_read += len(found) + sum(map(len, rows))
        run.accounting.rows_quarantined += len(found)
        run.accounting.readings_nulled += len(values_found)
        self.typed += rows

    def _typed_rows(
        self, table, batch, cells: CellText | None
    ) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
        """Parsed rows checked one by one: the survivors, typed, with the columns that
        duplicate resolution needs (at most one frame), and the (row, value) entries."""
        raw = _sensor_rows(table, batch, floats=cells is not None)
        del table  # peak memory: each stage's input is released once the next one has it
        _release_freed_memory()  # Arrow's parse leaves ~3x the batch's text freed but held
        checked, failed, found = v.parse_timestamps(raw, self.timezones, self.now)
        del raw
        rows, values_found = v.clean_values(checked, keep=~failed, text=cells)
        del checked
        if failed.any():  # the rows that left whole go once their values are numbers
            rows = rows[~failed]
        rows = rows.drop(columns="_folder")  # checked: only duplicates are left to resolve
        return ([rows] if len(rows) else []), [found, values_found]


def _parsed(pieces: list[Piece]) -> tuple[pd.DataFrame, dict[str, str], CellText | None]:
    """The pieces as one table, their parse failures, and the text behind float values.

    Values are read as floats where every cell of them is a number or empty (see
    ingest_parse.parse_numeric), else as categoricals of their text: either way
    clean_values judges each distinct text once.
    """
    try:
        table, cells = parse_numeric(pieces, SENSOR_VALUE_COLUMNS)
    except NotNumeric:
        return *parse_pieces(pieces, SENSOR_VALUE_COLUMNS), None
    return table, {}, cells


def _deduplicated(typed: list[pd.DataFrame], run: Findings) -> dict[str, pd.Series]:
    """One batch's typed rows without duplicates, sorted by farm and time, as one
    independent array per column (so that each can be released on its own).

    The rows come as frames (a streamed file gives one per text) that are never joined
    whole: the keys are joined to find the repeated ones, only those rows go through
    validation.deduplicate (all copies of a key are among them, in row order, so it
    decides as it would on every row), and each readings column is joined and sorted
    on its own, so the peak is the frames plus about two columns, not twice the rows.
    """
    acc = run.accounting
    keys = pd.DataFrame(
        {name: _joined([frame.pop(name) for frame in typed]) for name in ("farm_id", "timestamp")},
        copy=False,
    )
    order, farm, stamp = v.key_order(keys)
    repeated = v.repeated_keys(order, farm, stamp)
    del farm, stamp
    twins = pd.concat(_rows_at(typed, repeated), ignore_index=True)
    twins = twins.assign(**keys.iloc[repeated].reset_index(drop=True)).set_axis(repeated)
    kept, conflicts, copies = v.deduplicate(twins)
    run.found.append(conflicts)
    acc.rows_quarantined += len(conflicts)
    acc.duplicate_rows_dropped += copies
    keep = np.ones(len(keys), dtype=bool)
    keep[np.setdiff1d(repeated, kept.index.to_numpy())] = False
    order = order[keep[order]]  # a stable sort of all rows, less the dropped ones
    del twins, kept, keep
    readings = {}
    for name in SENSOR_COLUMNS_KNOWN:  # each column released as soon as it is sorted
        joined = keys.pop(name) if name in keys else None
        column = _joined([frame.pop(name) for frame in typed]) if joined is None else joined
        del joined
        readings[name] = pd.Series(column.array.take(order), copy=False)
        del column
        _release_freed_memory()
    typed.clear()
    _release_freed_memory()
    return readings


def _rows_at(typed: list[pd.DataFrame], positions: np.ndarray) -> list[pd.DataFrame]:
    """The rows at `positions` (ascending, counted over all frames) from each frame."""
    ends = np.cumsum([len(frame) for frame in typed])
    cuts = np.searchsorted(positions, ends)
    starts = np.concatenate(([0], ends[:-1]))
    pieces = np.split(positions, cuts[:-1])
    return [frame.iloc[p - s] for frame, p, s in zip(typed, pieces, starts, strict=True)]


def _joined(parts: list[pd.Series]) -> pd.Series:
    """Columns of the same name from several frames as one (one part: itself)."""
    if len(parts) == 1:
        return parts[0].reset_index(drop=True)
    if isinstance(parts[0].dtype, pd.CategoricalDtype):  # _file: keys differ per frame
        return pd.Series(union_categoricals(parts, ignore_order=True), copy=False)
    if getattr(parts[0].dtype, "storage", None) == "pyarrow":  # strings
        return _joined_strings(parts)
    return pd.concat(parts, ignore_index=True)


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


def _joined_strings(parts: list[pd.Series]) -> pd.Series:
    """Arrow-backed string columns joined into one contiguous array: a column joined from
    many chunks would be joined again, a copy, by every take() (deduplicate, sort)."""
    joined = pd.concat(parts, ignore_index=True)  # Arrow chunks: no copy yet
    strings = pa.array(joined.array)
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    return pd.Series(pd.array(strings, dtype=joined.dtype), copy=False)


def _release_freed_memory() -> None:
    """Hand freed memory back to the OS so the next stage can reuse it.

    Arrow's allocator keeps freed pages for reuse, and glibc's malloc keeps the holes that
    freed batch columns leave in its heap: without this, RSS would count each batch's
    columns twice (once as holes, once joined) and peak at twice the readings.
    """
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _open_sensor(key: str, data: bytes | OSError, run: Findings) -> Piece | None:
    """One checked sensor file, or None after reporting why it cannot be used."""
    try:
        piece = piece_from_bytes(key, data)
        check_columns(piece.names, REQUIRED_SENSOR_COLUMNS, SENSOR_COLUMNS_KNOWN)
    except FileParseError as exc:
        run.fail_file(key, str(exc))
        return None
    return piece


def _account_files(pieces: list[Piece], run: Findings) -> None:
    """Count the files that were read; report their malformed records and odd columns."""
    run.accounting.files_read += len(pieces)
    for piece in pieces:
        run.note_extra(piece.key, [c for c in piece.names if c not in SENSOR_COLUMNS_KNOWN])
        if len(piece.lines) == 0 and not piece.bad_text:
            run.file_entry(piece.key, "no data rows (header only)")
    bad = bad_records(pieces)
    run.found.append(bad)
    run.accounting.rows_read += len(bad)
    run.accounting.rows_quarantined += len(bad)


def _sensor_rows(
    table: pd.DataFrame, opened: list[tuple[Piece, str]], floats: bool
) -> pd.DataFrame:
    """The contract's columns as text (absent = NaN) plus _file, _line and _folder; the
    value columns stay floats where they were read as such (`floats`)."""
    raw = table.reindex(columns=[*SENSOR_COLUMNS_KNOWN, "_line"])
    # A column absent from every file: all-NaN strings. Categoricals, and value columns
    # read as floats (an absent one: all NaN), stay as they are.
    text = [
        c
        for c in SENSOR_COLUMNS_KNOWN
        if not isinstance(raw[c].dtype, pd.CategoricalDtype)
        and not (floats and c in SENSOR_VALUE_COLUMNS)
    ]
    raw[text] = raw[text].astype(str)
    codes = table["_piece"].to_numpy("int64")
    keys = [p.key for p, _ in opened]
    raw["_file"] = pd.Categorical.from_codes(codes, categories=keys)
    folder_of_piece, folders = pd.factorize(np.asarray([folder for _, folder in opened]))
    raw["_folder"] = pd.Categorical.from_codes(folder_of_piece[codes], categories=folders)
    raw["_raw_timestamp"] = raw["timestamp"]
    return raw
