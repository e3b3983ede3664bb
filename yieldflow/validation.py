"""The contract's rules as vectorised checks on string tables (see docs/data-contract.md).

Each check takes columns exactly as read (text: strings, or categoricals of the strings
for sensor values, so raw values can be reported), returns the cleaned data and a
quarantine table, and never loops over rows in Python: ingestion of a few hundred thousand
readings must stay around a second.

Quarantine tables always have QUARANTINE_COLUMNS. `line` is the 1-based physical line in a
CSV file (header = 1), the 1-based row number in a Parquet file, 0 for file-level entries.
"""

from __future__ import annotations

import zoneinfo
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from yieldflow.contract import (
    HARVEST_COLUMNS,
    LOGGER_SENTINELS,
    SENSOR_RANGES,
    SENSOR_VALUE_COLUMNS,
    YIELD_RANGE_T_HA,
)

if TYPE_CHECKING:
    from yieldflow.ingest_parse import CellText

QUARANTINE_COLUMNS: tuple[str, ...] = ("file", "line", "column", "raw_value", "reason", "scope")
CONFLICT_REASON = "conflicting duplicate"
# An explicit UTC designator or offset after a time of day: `Z`, `+02:00`, `-0530`, `+02`.
_OFFSET_RE = r"[T ]\d.*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_ISO_DATE_RE = r"\d{4}-\d{2}-\d{2}"
_MIN_TIMESTAMP = pd.Timestamp("1678-01-01", tz="UTC")  # datetime64[ns] cannot go lower
_TRUE = ("true", "1", "yes", "y", "t")
_FALSE = ("false", "0", "no", "n", "f")


def entries(file, line, column, raw, reason, scope: str) -> pd.DataFrame:
    """Quarantine rows from scalars or aligned arrays (one entry per element)."""
    if len(line) == 0:  # most calls find nothing (a clean batch): no constructor then
        return empty_entries()
    return _entry_table(file, line, column, raw, reason, scope)


def _entry_table(file, line, column, raw, reason, scope: str) -> pd.DataFrame:
    # One constructor, in QUARANTINE_COLUMNS order: each pandas step apart costs ~1 ms,
    # and every batch makes several of these tables.
    values = (file, line, column, raw, reason, scope)
    frame = pd.DataFrame(dict(zip(QUARANTINE_COLUMNS, values, strict=True)))
    frame["line"] = frame["line"].astype("int64")
    frame["raw_value"] = frame["raw_value"].fillna("").astype(str)
    return frame


_EMPTY_ENTRIES = _entry_table([], [], [], [], [], "value")


def empty_entries() -> pd.DataFrame:
    """A quarantine table without rows: a new frame whose empty columns are shared."""
    return _EMPTY_ENTRIES.copy(deep=False)


def _first_failure(raw: pd.DataFrame, rules: list[tuple[pd.Series, str, str]], scope: str):
    """Apply (mask, column, reason) rules in priority order: one entry per failing row.

    Returns the boolean mask of failing rows and their quarantine entries.
    """
    masks = [m.fillna(False).to_numpy(bool) for m, _, _ in rules]
    failed = np.logical_or.reduce(masks) if masks else np.zeros(len(raw), bool)
    rows = np.flatnonzero(failed)
    # The first rule each failing row breaks, worked out on those rows only: np.select
    # over every row would build one full-length string array per rule.
    first = np.full(rows.size, len(rules))
    for i in reversed(range(len(rules))):
        first[masks[i][rows]] = i
    column = np.asarray([c for _, c, _ in rules] + [""])[first]
    reason = np.asarray([r for _, _, r in rules] + [""])[first]
    raw_value = np.empty(len(column), dtype=object)
    for name in set(column):  # one pass per offending column, not per row
        hit = column == name
        raw_value[hit] = raw[name].iloc[rows[hit]].to_numpy(object)
    found = entries(
        raw["_file"].iloc[rows].to_numpy(),
        raw["_line"].iloc[rows].to_numpy(),
        column,
        raw_value,
        reason,
        scope,
    )
    return pd.Series(failed, index=raw.index, copy=False), found


def to_float(text: pd.Series) -> pd.Series:
    """Numbers from stripped text; NaN where empty or not a number.

    Arrow's cast is ~20x faster than pd.to_numeric but refuses a whole column for one bad
    cell; only then does the slower, forgiving parser run.
    """
    cells = pa.array(text, type=pa.string(), from_pandas=True)
    cells = pc.if_else(pc.equal(cells, ""), pa.scalar(None, pa.string()), cells)
    try:
        values = pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_numeric(text, errors="coerce").astype("float64")
    return pd.Series(values, index=text.index, dtype="float64", copy=False)


def parse_timestamps(
    raw: pd.DataFrame, timezones: dict[str, str], now: pd.Timestamp
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Check farm_id and timestamp of every row; bad rows leave whole (scope "row").

    `raw` has the sensor columns as text plus `_file`, `_line` and `_folder`. Naive
    timestamps are read in the farm's timezone from `timezones` (else UTC); local times that
    a DST change makes ambiguous or impossible cannot be placed, so those rows leave too.
    Returns every row (farm_id stripped, timestamp as datetime64[ns, UTC]), the mask of the
    rows that fail, and their quarantine entries. The failing rows are dropped by the caller
    once the values are numbers: filtering the strings here would copy every column.
    """
    farm = raw["farm_id"].str.strip()
    stamps, naive, blank = _utc_stamps(raw["timestamp"])
    folder = raw["_folder"].astype("category")  # no copy when ingestion made it one
    local = naive & stamps.notna().to_numpy()
    stamps, unplaceable = _place_local_times(stamps, folder, local, timezones)
    # Codes, not strings: a farm_id that names no folder gets -1, so it cannot match.
    codes, uniques = pd.factorize(farm)  # Arrow's hashing: no Python string per row
    farm_code = np.append(folder.cat.categories.get_indexer(uniques), -1)[codes]
    rules = [
        (farm == "", "farm_id", "missing farm_id"),
        (
            pd.Series(farm_code != folder.cat.codes.to_numpy(), index=raw.index, copy=False),
            "farm_id",
            "farm_id does not match its folder",
        ),
        (pd.Series(blank, index=raw.index, copy=False), "timestamp", "missing timestamp"),
        (
            pd.Series(unplaceable, index=raw.index, copy=False),
            "timestamp",
            "ambiguous or nonexistent local time",
        ),
        (stamps.isna(), "timestamp", "unparseable timestamp"),
        (stamps < _MIN_TIMESTAMP, "timestamp", "timestamp before 1678"),
        (stamps > now, "timestamp", "timestamp in the future"),
    ]
    failed, found = _first_failure(raw, rules, "row")
    # Failing stamps become NaT: one before 1678 does not fit datetime64[ns] at all.
    kept = stamps.mask(failed).astype("datetime64[ns, UTC]")
    checked = raw.assign(farm_id=farm, timestamp=kept)
    return checked, failed.to_numpy(), found


def _utc_stamps(raw: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Stamps as written, read as UTC instants (NaT where unreadable); which were naive
    (no offset: local time to place, or UTC) and which were blank."""
    strict = _strict_stamps(raw)  # a strict stamp has no space around it to strip
    if strict is not None:
        return *strict, np.zeros(len(raw), dtype=bool)
    text = raw.str.strip()
    stamps = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    naive = ~text.str.contains(_OFFSET_RE, regex=True).fillna(False)
    return stamps, naive.to_numpy(bool), text.eq("").fillna(False).to_numpy(bool)


def _strict_stamps(text: pd.Series) -> tuple[pd.Series, np.ndarray] | None:
    """The common case, every stamp `YYYY-MM-DDThh:mm:ss` with or without a final `Z`,
    read by Arrow's ISO 8601 parser: the same instants as pandas' parser, several times
    faster (its pattern check for an offset alone costs more). None for anything else,
    including a stamp that is not a real date or time, one outside datetime64[ns], and
    one with spaces around it (Arrow's parser takes none)."""
    if getattr(text.dtype, "storage", None) != "pyarrow" or text.hasnans:
        return None
    strings = pa.array(text.array)
    length = pc.binary_length(strings)
    shortest, longest = pc.min_max(length).values()
    if not (19 <= (shortest.as_py() or 0) <= (longest.as_py() or 0) <= 20):
        return None
    naive = pc.equal(length, 19)
    if not pc.all(pc.or_(naive, pc.ends_with(strings, "Z"))).as_py():
        return None
    if longest.as_py() == 20:
        strings = pc.utf8_slice_codeunits(strings, 0, 19)
    try:  # seconds first: a year outside datetime64[ns] fails the second cast
        seconds = pc.cast(strings, pa.timestamp("s"))
        instants = pc.cast(seconds, pa.timestamp("ns")).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    stamps = pd.Series(instants, index=text.index, copy=False).dt.tz_localize("UTC")
    return stamps, naive.to_numpy(zero_copy_only=False)


def _place_local_times(
    stamps: pd.Series, folder: pd.Series, local: np.ndarray, timezones: dict[str, str]
) -> tuple[pd.Series, np.ndarray]:
    """Read the `local` (naive, parsed) stamps of each timezone farm as that zone's wall time.

    One conversion per distinct zone, not per farm, written positionally into one array:
    a loop over farms with masked Series assignment grows with farms × rows. Returns the
    UTC stamps and the rows a DST change makes ambiguous or impossible (now NaT).
    """
    unplaceable = np.zeros(len(stamps), dtype=bool)
    zone_names = folder.cat.categories.map(timezones)  # NaN: a folder with no timezone
    codes, zones = pd.factorize(zone_names)
    if len(zones) == 0:
        return stamps, unplaceable
    # One extra slot maps a missing folder (code -1) to "no zone".
    row_zone = np.append(codes, -1)[folder.cat.codes.to_numpy()]
    utc = stamps.dt.tz_convert(None).to_numpy().copy()
    for code, zone in enumerate(zones):
        rows = np.flatnonzero(local & (row_zone == code))
        if rows.size:
            wall = pd.DatetimeIndex(utc[rows])
            moved = wall.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").tz_convert(None)
            utc[rows] = moved.to_numpy()
            unplaceable[rows] = np.isnat(utc[rows])
    return pd.Series(utc, index=stamps.index, copy=False).dt.tz_localize("UTC"), unplaceable


def clean_values(
    rows: pd.DataFrame, keep: np.ndarray | None = None, text: CellText | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn each sensor value into a float; a bad single value becomes NaN (scope "value").

    An optional column absent from a file arrives as NaN and is simply missing: no event.
    A cell that exists but is empty, `NaN`, a logger sentinel, not a number or outside the
    physical range (inclusive) is nulled and recorded with its raw text, so nothing is
    lost silently. Returns `rows` with float64 value columns, and the entries of the rows
    in `keep` (default: all; a row that leaves whole has its own entry instead).

    A column has a few thousand distinct cells however many rows it has, so each distinct
    text is parsed and judged once (a categorical column, as ingestion reads them, already
    has its distinct cells; a string column is factorized first). Value columns already
    read as floats come with their `text` (ingest_parse.parse_numeric): a number that is
    finite, in range and no sentinel is clean as read, and only the other cells' text is
    looked up and judged, as text, by the same rules.
    """
    cleaned = rows.copy(deep=False)  # every value column is replaced below
    # Entries are gathered as positions and made into one table at the end: a table per
    # (column, reason) costs more than the checks once files are read in batches.
    hits, columns, reasons, raw_values = [], [], [], []
    for column in SENSOR_VALUE_COLUMNS:
        if column not in rows:
            cleaned[column] = np.full(len(rows), np.nan)
            continue
        if text is not None and text.has(column) and rows[column].dtype == np.float64:
            at, codes, cells, numbers = _suspect_cells(rows[column], column, text)
        else:
            at, (codes, cells) = None, _distinct_cells(rows[column])
        judged, problem, labels = _judged_cells(cells, *SENSOR_RANGES[column])
        # One extra slot for code -1: a row whose file lacks the column (missing, no event).
        row_problem = np.append(problem, -1)[codes]
        kept = keep if keep is None or at is None else keep[at]
        for index, reason in enumerate(labels):
            hit = np.flatnonzero(
                row_problem == index if kept is None else (row_problem == index) & kept
            )
            if hit.size:
                hits.append(hit if at is None else at[hit])
                columns.append(np.full(hit.size, column, dtype=object))
                reasons.append(np.full(hit.size, reason, dtype=object))
                raw_values.append(cells[codes[hit]])
        if at is None:
            cleaned[column] = np.append(judged, np.nan)[codes]
        else:
            numbers[at] = np.append(judged, np.nan)[codes]
            cleaned[column] = numbers
    found = [empty_entries()]
    if hits:
        where = np.concatenate(hits)
        found.append(
            entries(
                rows["_file"].iloc[where].to_numpy(),
                rows["_line"].to_numpy()[where],
                np.concatenate(columns),
                np.concatenate(raw_values),
                np.concatenate(reasons),
                "value",
            )
        )
    return cleaned, pd.concat(found, ignore_index=True)


def _suspect_cells(
    values: pd.Series, column: str, text: CellText
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A float column's cells that are not plainly clean (not finite, out of range or a
    sentinel): their rows, per row the code of its text (-1: no cell), the distinct texts,
    and a writable copy of the numbers."""
    numbers = values.to_numpy(dtype=np.float64, copy=True)
    at = np.flatnonzero(~_within(numbers, *SENSOR_RANGES[column]) | _sentinels(numbers))
    # None (code -1): the row's file has no such column, so it is missing, not an event.
    codes, cells = pd.factorize(np.asarray(text.cells(column, at), dtype=object))
    return at, codes.astype(np.intp, copy=False), np.asarray(cells, dtype=object), numbers


def _sentinels(values: np.ndarray) -> np.ndarray:
    """Which values are a logger's "no reading" code (np.isin would hash every value)."""
    return np.logical_or.reduce([values == s for s in LOGGER_SENTINELS])


def _within(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Which values lie in the physical range, ends included (NaN never does)."""
    with np.errstate(invalid="ignore"):
        return (values >= low) & (values <= high)


def _distinct_cells(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per row the code of its cell's text (-1: no cell), and the distinct texts."""
    if isinstance(raw.dtype, pd.CategoricalDtype):
        codes, cells = raw.cat.codes.to_numpy(), raw.cat.categories
    else:
        codes, cells = pd.factorize(raw)  # Arrow's hashing for Arrow strings
    return codes.astype(np.intp, copy=False), np.asarray(cells, dtype=object)


def _judged_cells(
    cells: np.ndarray, low: float, high: float
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each distinct cell text as a clean float (NaN when bad) and its problem: an index
    into the returned reasons, in the order entries list them, or -1 when it is fine."""
    text = pd.Series(cells, dtype=str).str.strip()
    values = to_float(text).to_numpy()
    empty = text.eq("").to_numpy(bool)
    unparsed = ~empty & np.isnan(values)
    # Every spelling of "nan" parses to NaN, so only unparsed cells can be "NaN" text.
    nan_text = unparsed & text.str.lower().eq("nan").to_numpy(bool)
    sentinel = _sentinels(values)
    outside = ~np.isnan(values) & ~sentinel & ~_within(values, low, high)
    problems = [
        (empty, "empty"),
        (nan_text, "NaN"),
        (sentinel, "logger sentinel"),
        (unparsed & ~nan_text, "not a number"),
        (outside, f"out of range [{low:g}, {high:g}]"),
    ]
    problem = np.full(len(cells), -1)
    for index, (mask, _) in enumerate(problems):  # the masks are disjoint
        problem[mask] = index
    return np.where(sentinel | outside, np.nan, values), problem, [r for _, r in problems]


def deduplicate(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Keep one copy of exact duplicates; quarantine every copy of conflicting ones.

    Exports overlap (a month re-exported), so identical (farm_id, timestamp, values) rows
    are expected and harmless; two different readings for one instant cannot both be true
    and we cannot tell which is, so all copies leave. Returns kept rows, entries, and the
    number of exact copies dropped.
    """
    key = ["farm_id", "timestamp"]
    # Only a repeated key can conflict (re-exports: a few percent of rows), so the costly
    # per-key comparison of values runs on those rows alone.
    repeated = repeated_keys(*key_order(rows))
    twins = rows.iloc[repeated]
    values = twins[list(SENSOR_VALUE_COLUMNS)].fillna(np.inf) + 0.0  # NaN == NaN, -0.0 == 0.0
    digest = pd.util.hash_pandas_object(values, index=False)
    differs = digest.groupby([twins["farm_id"], twins["timestamp"]], sort=False).transform(
        "nunique"
    )
    conflicting = differs.to_numpy() > 1
    bad = rows.iloc[repeated[conflicting]]
    found = entries(
        bad["_file"].to_numpy(),
        bad["_line"].to_numpy(),
        "timestamp",
        bad["_raw_timestamp"].to_numpy(),
        CONFLICT_REASON,
        "row",
    )
    # Conflicts leave whole per key, so the copies to drop are among the other repeats.
    copies = twins[~conflicting].duplicated(subset=key, keep="first").to_numpy()
    drop = np.concatenate([repeated[conflicting], repeated[~conflicting][copies]])
    if drop.size == 0:
        return rows, found, 0  # no copy of every row when clean
    keep = np.ones(len(rows), dtype=bool)
    keep[drop] = False
    return rows[keep], found, int(copies.sum())


def key_order(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stable order of rows by (farm_id, timestamp), and both keys in that order.

    By sorting integer codes, not by hashing: a hash table of millions of distinct
    timestamps (DataFrame.duplicated, sort_values) costs several times the keys' memory.
    Timestamps here are never NaT (parse_timestamps quarantined those rows).
    """
    farm = _sorted_codes(rows["farm_id"])
    stamp = rows["timestamp"].array.asi8
    ahead = (np.diff(farm) > 0) | ((np.diff(farm) == 0) & (np.diff(stamp) >= 0))
    if ahead.all():  # already in order (one farm's export): no sorted copies
        return np.arange(len(farm)), farm, stamp
    del ahead
    order = np.lexsort((stamp, farm))
    return order, farm[order], stamp[order]


def _sorted_codes(text: pd.Series) -> np.ndarray:
    """Integer codes that order as the strings do (pd.factorize with sort=True), by
    Arrow's dictionary encoding when the strings are Arrow's: pandas' factorize copies
    large_string columns first."""
    if getattr(text.dtype, "storage", None) != "pyarrow":
        return pd.factorize(text, sort=True)[0]
    strings = pa.array(text.array)
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    encoded = pc.dictionary_encode(strings)
    rank = np.empty(len(encoded.dictionary), dtype="int64")
    rank[pc.sort_indices(encoded.dictionary).to_numpy()] = np.arange(len(rank))
    return rank[encoded.indices.to_numpy(zero_copy_only=False)]


def repeated_keys(order: np.ndarray, farm: np.ndarray, stamp: np.ndarray) -> np.ndarray:
    """Positions, ascending, of the rows whose key another row shares (from key_order)."""
    same = (farm[1:] == farm[:-1]) & (stamp[1:] == stamp[:-1])
    repeated = np.zeros(len(order), dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    return np.sort(order[repeated])


def check_harvests(
    raw: pd.DataFrame, known_farms: set[str] | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valid harvest rows (the labels) and quarantine entries (scope "harvest").

    A label that breaks a rule would teach the model something false, so the row leaves
    whole with the first rule it breaks. Duplicate (farm_id, season) rows cannot be told
    apart, so all copies leave (a copy that breaks another rule reports that rule instead).
    """
    text = {c: raw[c].fillna("").str.strip() for c in HARVEST_COLUMNS}
    season_ok = text["season"].str.fullmatch(r"[+-]?\d{1,9}")
    season = pd.to_numeric(text["season"].where(season_ok), errors="coerce")
    planted, harvested = (_iso_date(text[c]) for c in ("planting_date", "harvest_date"))
    yield_ = to_float(text["yield_t_ha"])
    low, high = YIELD_RANGE_T_HA
    keyed = text["farm_id"].ne("") & season.notna()
    duplicate = keyed & pd.DataFrame({"f": text["farm_id"], "s": season}).duplicated(keep=False)
    rules = [(text[c].eq(""), c, f"missing {c}") for c in HARVEST_COLUMNS]
    rules += [
        (~season_ok, "season", "season is not an integer"),
        (planted.isna(), "planting_date", "planting_date is not an ISO date (YYYY-MM-DD)"),
        (harvested.isna(), "harvest_date", "harvest_date is not an ISO date (YYYY-MM-DD)"),
        (yield_.isna(), "yield_t_ha", "yield_t_ha is not a number"),
        (
            ~((yield_ > low) & (yield_ < high)),
            "yield_t_ha",
            f"yield_t_ha not in ({low:g}, {high:g})",
        ),
        (harvested <= planted, "harvest_date", "harvest_date is not after planting_date"),
        (season != harvested.dt.year, "season", "season is not the year of harvest_date"),
    ]
    if known_farms is not None:
        rules.append((~text["farm_id"].isin(known_farms), "farm_id", "farm_id not in farms.csv"))
    rules.append((duplicate, "season", "duplicate harvest (farm_id, season)"))
    failed, found = _first_failure(raw, rules, "harvest")
    ok = ~failed
    harvests = pd.DataFrame(
        {
            "farm_id": text["farm_id"][ok].astype(str),
            "season": season[ok].astype("int64"),
            "crop": text["crop"][ok].astype(str),
            "planting_date": planted[ok].astype("datetime64[ns]"),
            "harvest_date": harvested[ok].astype("datetime64[ns]"),
            "yield_t_ha": yield_[ok],
        }
    )
    return harvests.reset_index(drop=True), found


def _iso_date(text: pd.Series) -> pd.Series:
    """YYYY-MM-DD only (a real calendar date); anything else is NaT."""
    strict = text.where(text.str.fullmatch(_ISO_DATE_RE).fillna(False))
    return pd.to_datetime(strict, format="%Y-%m-%d", errors="coerce")


def check_farms(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Farm attributes with bad single values set missing (scope "farm").

    A farm row without farm_id cannot be used; a repeated farm_id keeps its first row. A
    bad latitude/longitude, irrigated flag or timezone name is reported and dropped (the
    farm then counts as non-irrigated, and its naive timestamps as UTC).
    """
    farm = raw["farm_id"].fillna("").str.strip()
    rules = [
        (farm.eq(""), "farm_id", "missing farm_id"),
        (farm.duplicated(keep="first"), "farm_id", "duplicate farm_id (first row kept)"),
    ]
    failed, found_rows = _first_failure(raw, rules, "farm")
    raw = raw[~failed]
    text = {
        c: raw.get(c, pd.Series(np.nan, index=raw.index, dtype=str)).fillna("").str.strip()
        for c in ("name", "latitude", "longitude", "soil_type", "irrigated", "timezone")
    }
    found = [found_rows]
    coords = {}
    for column, limit in (("latitude", 90.0), ("longitude", 180.0)):
        number = to_float(text[column])
        given = text[column].ne("")
        found.append(_farm_values(raw, text, column, given & number.isna(), "not a number"))
        outside = number.notna() & ~number.between(-limit, limit)
        found.append(
            _farm_values(raw, text, column, outside, f"out of range [-{limit:g}, {limit:g}]")
        )
        coords[column] = number.mask(outside)
    flag = text["irrigated"].str.lower()
    unknown_flag = flag.ne("") & ~flag.isin(_TRUE + _FALSE)
    found.append(_farm_values(raw, text, "irrigated", unknown_flag, "not a boolean (true/false)"))
    zones = text["timezone"]
    bad_zone = zones.ne("") & ~zones.isin([z for z in zones.unique() if _is_timezone(z)])
    found.append(_farm_values(raw, text, "timezone", bad_zone, "unknown timezone (read as UTC)"))
    farms = pd.DataFrame(
        {
            "farm_id": farm[~failed].astype(str),
            "name": text["name"].mask(text["name"].eq("")),
            "latitude": coords["latitude"],
            "longitude": coords["longitude"],
            "soil_type": text["soil_type"].mask(text["soil_type"].eq(""), "unknown"),
            "irrigated": flag.isin(_TRUE).astype(bool),
            "timezone": zones.mask(zones.eq("") | bad_zone),
        }
    )
    return farms.reset_index(drop=True), pd.concat(found, ignore_index=True)


def _farm_values(raw, text, column: str, mask: pd.Series, reason: str) -> pd.DataFrame:
    return entries(
        raw["_file"][mask].to_numpy(),
        raw["_line"][mask].to_numpy(),
        column,
        text[column][mask].to_numpy(),
        reason,
        "farm",
    )


def _is_timezone(name: str) -> bool:
    if not name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
