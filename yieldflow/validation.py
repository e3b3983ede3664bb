"""The contract's rules as vectorised checks on string tables (see docs/data-contract.md).

Each check takes columns exactly as read (strings, so raw values can be reported), returns
the cleaned data and a quarantine table, and never loops over rows in Python: ingestion of
a few hundred thousand readings must stay around a second.

Quarantine tables always have QUARANTINE_COLUMNS. `line` is the 1-based physical line in a
CSV file (header = 1), the 1-based row number in a Parquet file, 0 for file-level entries.
"""

from __future__ import annotations

import zoneinfo

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
    frame = pd.DataFrame({"file": file, "line": line, "column": column, "raw_value": raw})
    frame = frame.assign(reason=reason, scope=scope)
    frame["line"] = frame["line"].astype("int64")
    frame["raw_value"] = frame["raw_value"].fillna("").astype(str)
    return frame[list(QUARANTINE_COLUMNS)].reset_index(drop=True)


def empty_entries() -> pd.DataFrame:
    return entries([], [], [], [], [], "value")


def _first_failure(raw: pd.DataFrame, rules: list[tuple[pd.Series, str, str]], scope: str):
    """Apply (mask, column, reason) rules in priority order: one entry per failing row.

    Returns the boolean mask of failing rows and their quarantine entries.
    """
    masks = [m.fillna(False).to_numpy(bool) for m, _, _ in rules]
    failed = np.logical_or.reduce(masks) if masks else np.zeros(len(raw), bool)
    column = np.select(masks, [c for _, c, _ in rules], default="")[failed]
    reason = np.select(masks, [r for _, _, r in rules], default="")[failed]
    raw_value = np.empty(len(column), dtype=object)
    for name in set(column):  # one pass per offending column, not per row
        raw_value[column == name] = raw[name].to_numpy(object)[failed][column == name]
    found = entries(
        raw["_file"].to_numpy()[failed],
        raw["_line"].to_numpy()[failed],
        column,
        raw_value,
        reason,
        scope,
    )
    return pd.Series(failed, index=raw.index), found


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
    return pd.Series(values, index=text.index, dtype="float64")


def parse_timestamps(
    raw: pd.DataFrame, timezones: dict[str, str], now: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check farm_id and timestamp of every row; bad rows leave whole (scope "row").

    `raw` has the sensor columns as strings plus `_file`, `_line` and `_folder`. Naive
    timestamps are read in the farm's timezone from `timezones` (else UTC); local times that
    a DST change makes ambiguous or impossible cannot be placed, so those rows leave too.
    Returns the surviving rows (farm_id stripped, timestamp as datetime64[ns, UTC]) and the
    quarantine entries.
    """
    farm = raw["farm_id"].str.strip()
    text = raw["timestamp"].str.strip()
    stamps = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    naive = ~text.str.contains(_OFFSET_RE, regex=True).fillna(False)
    unplaceable = pd.Series(False, index=raw.index)
    for farm_id, tz in timezones.items():
        local = (raw["_folder"] == farm_id) & naive & stamps.notna()
        if local.any():
            wall = stamps[local].dt.tz_localize(None)
            moved = wall.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
            stamps[local] = moved.dt.tz_convert("UTC")
            unplaceable |= local & stamps.isna()
    rules = [
        (farm == "", "farm_id", "missing farm_id"),
        (farm != raw["_folder"], "farm_id", "farm_id does not match its folder"),
        (text == "", "timestamp", "missing timestamp"),
        (unplaceable, "timestamp", "ambiguous or nonexistent local time"),
        (stamps.isna(), "timestamp", "unparseable timestamp"),
        (stamps < _MIN_TIMESTAMP, "timestamp", "timestamp before 1678"),
        (stamps > now, "timestamp", "timestamp in the future"),
    ]
    failed, found = _first_failure(raw, rules, "row")
    ok = ~failed
    kept = (raw[ok] if failed.any() else raw).assign(farm_id=farm[ok])  # no copy when clean
    kept["timestamp"] = stamps[ok].astype("datetime64[ns, UTC]")
    return kept, found


def clean_values(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn each sensor value into a float; a bad single value becomes NaN (scope "value").

    An optional column absent from a file arrives as NaN and is simply missing: no event.
    A cell that exists but is empty, `NaN`, a logger sentinel, not a number or outside the
    physical range (inclusive) is nulled and recorded with its raw text, so nothing is
    lost silently. Returns `rows` with float64 value columns, and the entries.
    """
    cleaned = rows.copy(deep=False)  # every value column is replaced below
    found = [empty_entries()]
    for column in SENSOR_VALUE_COLUMNS:
        raw = rows[column] if column in rows else pd.Series(np.nan, index=rows.index, dtype=str)
        text = raw.str.strip()
        number = to_float(text)
        present = raw.notna()
        empty = present & text.eq("")
        nan_text = present & text.str.lower().eq("nan")
        sentinel = number.isin(LOGGER_SENTINELS)
        low, high = SENSOR_RANGES[column]
        outside = number.notna() & ~sentinel & ~number.between(low, high)
        problems = [
            (empty, "empty"),
            (nan_text, "NaN"),
            (sentinel, "logger sentinel"),
            (present & number.isna() & ~empty & ~nan_text, "not a number"),
            (outside, f"out of range [{low:g}, {high:g}]"),
        ]
        for mask, reason in problems:
            if mask.any():
                hit = rows[mask]
                found.append(
                    entries(
                        hit["_file"].to_numpy(),
                        hit["_line"].to_numpy(),
                        column,
                        raw[mask].to_numpy(),
                        reason,
                        "value",
                    )
                )
        cleaned[column] = number.mask(sentinel | outside)
    return cleaned, pd.concat(found, ignore_index=True)


def deduplicate(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Keep one copy of exact duplicates; quarantine every copy of conflicting ones.

    Exports overlap (a month re-exported), so identical (farm_id, timestamp, values) rows
    are expected and harmless; two different readings for one instant cannot both be true
    and we cannot tell which is, so all copies leave. Returns kept rows, entries, and the
    number of exact copies dropped.
    """
    values = rows[list(SENSOR_VALUE_COLUMNS)].fillna(np.inf) + 0.0  # NaN == NaN, -0.0 == 0.0
    digest = pd.util.hash_pandas_object(values, index=False)
    key = [rows["farm_id"], rows["timestamp"]]
    conflict = digest.groupby(key, sort=False).transform("nunique") > 1
    bad = rows[conflict]
    found = entries(
        bad["_file"].to_numpy(),
        bad["_line"].to_numpy(),
        "timestamp",
        bad["_raw_timestamp"].to_numpy(),
        CONFLICT_REASON,
        "row",
    )
    rest = rows[~conflict] if conflict.any() else rows  # no copy of every row when clean
    copies = rest.duplicated(subset=["farm_id", "timestamp"], keep="first")
    return (rest[~copies] if copies.any() else rest), found, int(copies.sum())


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
