"""The contract's rules (docs/data-contract.md): sensor checks as SQL, labels in pandas.

The sensor rules, nearly all of the work, are SQL generated from yieldflow.contract (its
columns, ranges and sentinels) and run by DuckDB over the records that
yieldflow.ingest_read hands it: `sensor_checks_sql` types and judges every record, and
the duplicate rules work on what it keeps. farms.csv and harvests.csv, a few hundred rows,
are checked in pandas below. Each rule says which column it judged, with the raw text, so
every quarantine entry can name file, line, column, raw value and reason.

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
_ISO_DATE_RE = r"\d{4}-\d{2}-\d{2}"
_TRUE = ("true", "1", "yes", "y", "t")
_FALSE = ("false", "0", "no", "n", "f")
# What Python's str.strip() removes from a cell, as a DuckDB trim() character set.
SPACE = "' \t\n\r\x0b\x0c'"
# Timestamps: the common shapes are read by strptime; anything else must look like ISO 8601
# (what pandas' ISO8601 parser takes: optional seconds and fraction, `Z` or an offset)
# before DuckDB's cast, which would also take `24:00`, zone names or `infinity`.
_ISO = (
    r"\d{4}-\d{1,2}-\d{1,2}([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?"
    r"(Z|[+-]\d{2}(:?\d{2})?)?)?"
)
_OFFSET = r"[T ]\d.*(Z|z|[+-]\d{2}(:?\d{2})?)$"
_NO_SECONDS = r"([T ]\d\d:\d\d)(Z|[+-]\d{2}(:?\d{2})?)?$"
# A DST change shifts wall time by 30 min to 2 h: a local time is ambiguous when another
# instant that far away shows the same wall time. Only times on a day near an offset
# change (zone_days_sql) are placed and checked by ICU row by row.
_DST_SHIFTS = ("30 MINUTE", "1 HOUR", "2 HOUR")
_ZONE_DAY = "zi * 1000000 + ({day} - DATE '1970-01-01')"  # one integer key: a fast join
_SENTINELS = "(" + ", ".join(repr(float(s)) for s in LOGGER_SENTINELS) + ")"


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def out_of_range_reason(low: float, high: float) -> str:
    return f"out of range [{low:g}, {high:g}]"


def _in_zone(expression: str, zones: list[str], zone: str = "zi") -> str:
    """timezone(zone, expression), the zone given by its index in `zones` and each a
    constant (ICU is ~10x slower when the zone varies per row): the instant of a local
    wall time, or the wall time of an instant."""
    zones = zones or ["UTC"]  # no zone: no local row, but the expression keeps its type
    cases = " ".join(
        f"WHEN {i} THEN timezone({sql_text(z)}, {expression})" for i, z in enumerate(zones)
    )
    return f"CASE {zone} {cases} END"


def zone_days_sql(zones: list[str], first: str, last: str) -> str:
    """Per zone (index zi) and local day from `first` to `last`, keyed zone_day: `shift`,
    wall time minus UTC at noon, and `steady`, whether the shift is the same at noon the
    day before and after (no offset change near that day, so each of its wall times
    exists once). A local time on a steady day is placed by a join; any other by ICU row
    by row (here one ICU call per zone and day, against several per row)."""
    noon = "(day + INTERVAL 12 HOUR)"
    return f"""
SELECT {_ZONE_DAY.format(day="day")} AS zone_day, shift,
  coalesce(lag(shift) OVER w = lead(shift) OVER w, false) AS steady
FROM (
  SELECT zi, day, {noon} - make_timestamp(epoch_us({_in_zone(noon, zones)})) AS shift
  FROM range({len(zones)}) z(zi) CROSS JOIN (
    SELECT range::DATE AS day FROM range(DATE '{first}', DATE '{last}', INTERVAL 1 DAY)))
WINDOW w AS (PARTITION BY zi ORDER BY day)"""


def sensor_checks_sql(now: pd.Timestamp, zones: list[str]) -> str:
    """One SELECT over `cells` (one row per record: fi, fo, line, bad, text, folder, zone
    index zi, width and each contract column's raw text, NULL where the file lacks it)
    and `zone_days` (zone_days_sql) giving per record: `ok` (kept as a reading), the UTC
    timestamp, each value cleaned (NULL when bad) and `found`, a list of (column, raw,
    reason): the row's own entry when it leaves whole, else its bad values (NULL when
    there is nothing to report).

    Row rules, the first broken one wins: wrong number of fields, missing farm_id, farm_id
    not its folder, missing timestamp, local time a DST change makes ambiguous or
    impossible, unparseable, before 1678 (pandas' datetime64[ns] cannot hold it), in the
    future. Value rules: empty, NaN, logger sentinel, not a number, out of range. Cells
    are compared as read and stripped only where that matters (casts ignore spaces), so
    the common clean cell costs a cast and a comparison.
    """
    values = SENSOR_VALUE_COLUMNS
    text = f"trim(timestamp, {SPACE})"
    stamp = f"""CASE
        WHEN timestamp LIKE '____-__-__T__:__:__Z'
          THEN try_strptime(timestamp, '%Y-%m-%dT%H:%M:%SZ')
        WHEN timestamp LIKE '____-__-__T__:__:__'
          THEN try_strptime(timestamp, '%Y-%m-%dT%H:%M:%S')
        WHEN regexp_full_match({text}, '{_ISO}')
          THEN TRY_CAST(regexp_replace({text}, '{_NO_SECONDS}', '\\1:00\\2')
                        AS TIMESTAMPTZ)::TIMESTAMP
      END"""
    naive = f"""CASE
        WHEN timestamp LIKE '____-__-__T__:__:__Z' THEN false
        WHEN timestamp LIKE '____-__-__T__:__:__' THEN true
        ELSE NOT regexp_matches({text}, '{_OFFSET}')
      END"""
    numbers = "".join(
        f", CASE WHEN NOT contains({c}, '_') THEN TRY_CAST({c} AS DOUBLE) END AS {c}_num"
        for c in values
    )

    ambiguous = " OR ".join(
        f"{_in_zone(f'instant {sign} INTERVAL {shift}', zones)} = stamp"
        for shift in _DST_SHIFTS
        for sign in "+-"
    )
    reasons = []
    for c in values:
        low, high = SENSOR_RANGES[c]
        reasons.append(
            f"""CASE WHEN {c} IS NULL THEN NULL
          WHEN {c}_num IS NOT NULL AND NOT isnan({c}_num) THEN CASE
            WHEN {c}_num IN {_SENTINELS} THEN 'logger sentinel'
            WHEN NOT ({c}_num BETWEEN {low!r} AND {high!r})
              THEN {sql_text(out_of_range_reason(low, high))} END
          WHEN trim({c}, {SPACE}) = '' THEN 'empty'
          WHEN lower(trim({c}, {SPACE})) = 'nan' THEN 'NaN'
          ELSE 'not a number'
        END AS {c}_why"""
        )
    farm = f"trim(farm_id, {SPACE})"
    row_rules = f"""CASE
        WHEN bad THEN ['', text, 'wrong number of fields (header has ' || width || ')']
        WHEN farm_id <> folder AND {farm} = '' THEN ['farm_id', farm_id, 'missing farm_id']
        WHEN farm_id <> folder AND {farm} <> folder
          THEN ['farm_id', farm_id, 'farm_id does not match its folder']
        WHEN stamp IS NULL AND {text} = '' THEN ['timestamp', timestamp, 'missing timestamp']
        WHEN unplaceable THEN ['timestamp', timestamp, 'ambiguous or nonexistent local time']
        WHEN utc IS NULL THEN ['timestamp', timestamp, 'unparseable timestamp']
        WHEN utc < TIMESTAMP '1678-01-01' THEN ['timestamp', timestamp, 'timestamp before 1678']
        WHEN utc > TIMESTAMP '{now.tz_convert(None).isoformat()}'
          THEN ['timestamp', timestamp, 'timestamp in the future']
      END"""
    problems = " OR ".join(f"{c}_why IS NOT NULL" for c in values)
    found_values = ", ".join(f"[{sql_text(c)}, {c}, {c}_why]" for c in values)
    cleaned = ", ".join(f"CASE WHEN {c}_why IS NULL THEN {c}_num END AS {c}" for c in values)
    return f"""
WITH numbers AS (
  SELECT *, {stamp} AS stamp, {naive} AS naive{numbers} FROM cells),
local AS (
  SELECT *, CASE WHEN local THEN {_ZONE_DAY.format(day="CAST(stamp AS DATE)")} END AS zone_day
  FROM (SELECT *, naive AND zi IS NOT NULL AND stamp IS NOT NULL AS local FROM numbers)),
placed AS (
  SELECT l.*, d.shift, d.steady,
    CASE WHEN l.local AND d.steady IS NOT TRUE THEN {_in_zone("l.stamp", zones, "l.zi")} END
      AS instant
  FROM local l LEFT JOIN zone_days d ON d.zone_day = l.zone_day),
stamped AS (
  SELECT *,
    CASE WHEN NOT local THEN stamp WHEN steady THEN stamp - shift
      ELSE make_timestamp(epoch_us(instant)) END AS utc,
    local AND steady IS NOT TRUE AND ({_in_zone("instant", zones)} <> stamp OR {ambiguous})
      AS unplaceable
  FROM placed),
judged AS (SELECT *, {row_rules} AS row_found, {", ".join(reasons)} FROM stamped)
SELECT fi, fo, line, row_found IS NULL AS ok,
  CASE WHEN row_found IS NULL THEN utc END AS ts,
  {cleaned},
  CASE WHEN row_found IS NOT NULL THEN [row_found]
       WHEN {problems} THEN list_filter([{found_values}], x -> x[3] IS NOT NULL)
  END AS found
FROM judged"""


def conflicts_sql() -> str:
    """Over `kept` (fi, line, fo, ts and the cleaned values of the records kept so far),
    for each record whose farm (fo) and instant another shares: `conflict`, whether the
    copies of a key differ in any value (missing equals missing, -0.0 equals 0.0), and
    `copy`, its place among its key's copies by file and line. Conflicting copies all
    leave; of exact ones the first is kept."""
    values = ", ".join(f"{c} + 0.0" for c in SENSOR_VALUE_COLUMNS)
    return f"""
SELECT fi, line, count(DISTINCT [{values}]) OVER key > 1 AS conflict,
  row_number() OVER (key ORDER BY fi, line) AS copy
FROM kept SEMI JOIN (SELECT fo, ts FROM kept GROUP BY fo, ts HAVING count(*) > 1) USING (fo, ts)
WINDOW key AS (PARTITION BY fo, ts)"""


def entries(file, line, column, raw, reason, scope) -> pd.DataFrame:
    """Quarantine rows from scalars or aligned arrays (one entry per element)."""
    n = len(line)
    frame = pd.DataFrame(
        {
            "file": np.broadcast_to(np.asarray(file, dtype=object), (n,)).copy(),
            "line": np.asarray(line, dtype="int64"),
            "column": np.broadcast_to(np.asarray(column, dtype=object), (n,)).copy(),
            "raw_value": pd.Series(raw, dtype=object, index=range(n)).fillna("").astype(str)
            if n
            else pd.Series([], dtype=str),
            "reason": np.broadcast_to(np.asarray(reason, dtype=object), (n,)).copy(),
            "scope": pd.Series([scope] * n, dtype=str),
        }
    )
    return frame


def empty_entries() -> pd.DataFrame:
    return entries([], [], [], [], [], "value")


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
