"""The contract's rules (docs/data-contract.md): sensor checks as SQL, labels in pandas.

The sensor rules, nearly all of the work, are SQL generated from yieldflow.contract (its
columns, ranges and sentinels) and run by DuckDB over the records that
yieldflow.ingest.read hands it: `sensor_checks_sql` types and judges every record, and
the duplicate rules work on what it keeps. farms.csv and harvests.csv, a few hundred rows,
are checked in pandas below. Each rule says which column it judged, with the raw text, so
every quarantine entry can name file, line, column, raw value and reason.

Quarantine tables always have QUARANTINE_COLUMNS. `line` is the 1-based physical line in a
CSV file (header = 1), the 1-based row number in a Parquet file, 0 for file-level entries.
"""

from __future__ import annotations

import zoneinfo

import duckdb
import numpy as np
import pandas as pd

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
    """One row: per zone i, `z{i}`, the list over local days from `first` to `last` of
    wall time minus UTC (microseconds) at noon, NULL on a day whose shift differs at noon
    the day before or after (an offset change near it: a wall time may be missing or
    twice). A local time on a day with a shift is placed by a list lookup; any other by
    ICU row by row (here one ICU call per zone and day, against several per row)."""
    noon = "(day + INTERVAL 12 HOUR)"
    lists = ", ".join(
        f"list(CASE WHEN steady THEN shift END ORDER BY day) FILTER (WHERE zi = {i}) AS z{i}"
        for i in range(max(len(zones), 1))
    )
    return f"""
SELECT {lists} FROM (
  SELECT zi, day, shift, coalesce(lag(shift) OVER w = lead(shift) OVER w, false) AS steady
  FROM (
    SELECT zi, day, epoch_us({noon}) - epoch_us({_in_zone(noon, zones)}) AS shift
    FROM range({len(zones)}) z(zi) CROSS JOIN (
      SELECT range::DATE AS day FROM range(DATE '{first}', DATE '{last}', INTERVAL 1 DAY)))
  WINDOW w AS (PARTITION BY zi ORDER BY day))"""


def sensor_checks_sql(now: pd.Timestamp, zones: list[str], first: str) -> str:
    """One SELECT over `cells` (one row per record: fi, fo, line, bad, text, folder, zone
    index zi, width and each contract column's raw text, NULL where the file lacks it)
    and `zone_days` (zone_days_sql, from day `first`) giving per record: `ok` (kept as a
    reading), the UTC timestamp, each value cleaned (NULL when bad) and `found`, a list
    of (column, raw, reason): the row's own entry when it leaves whole, else its bad
    values (NULL when there is nothing to report).

    Row rules, the first broken one wins: wrong number of fields, missing farm_id, farm_id
    not its folder, missing timestamp, local time a DST change makes ambiguous or
    impossible, unparseable, before 1678 (pandas' datetime64[ns] cannot hold it), in the
    future. Value rules: empty, NaN, logger sentinel, not a number, out of range. Cells
    are compared as read and stripped only where that matters (casts ignore spaces), so
    the common clean cell costs a cast and a comparison.
    """
    values = SENSOR_VALUE_COLUMNS
    shifts = (
        " ".join(f"WHEN {i} THEN z.z{i}[l.day]" for i in range(len(zones))) or "WHEN 0 THEN NULL"
    )
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
  SELECT *, CASE WHEN local THEN CAST(stamp AS DATE) - DATE '{first}' + 1 END AS day
  FROM (SELECT *, naive AND zi IS NOT NULL AND stamp IS NOT NULL AS local FROM numbers)),
placed AS (
  SELECT *, CASE WHEN local AND shift IS NULL THEN {_in_zone("stamp", zones)} END AS instant
  FROM (
    SELECT l.*, CASE WHEN l.day >= 1 THEN CASE l.zi {shifts} END END AS shift
    FROM local l CROSS JOIN zone_days z)),
stamped AS (
  SELECT *,
    CASE WHEN NOT local THEN stamp WHEN shift IS NOT NULL
      THEN make_timestamp(epoch_us(stamp) - shift) ELSE make_timestamp(epoch_us(instant)) END
      AS utc,
    local AND shift IS NULL AND ({_in_zone("instant", zones)} <> stamp OR {ambiguous})
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
    `copy`, its place among its key's copies by file and line; `pos`, its row in `kept`.
    Conflicting copies all leave; of exact ones the first is kept."""
    values = ", ".join(f"{c} + 0.0" for c in SENSOR_VALUE_COLUMNS)
    return f"""
SELECT pos, fi, line, count(DISTINCT [{values}]) OVER key > 1 AS conflict,
  row_number() OVER (key ORDER BY fi, line) AS copy
FROM (SELECT row_number() OVER () - 1 AS pos, * FROM kept)
SEMI JOIN (SELECT fo, ts FROM kept GROUP BY fo, ts HAVING count(*) > 1) USING (fo, ts)
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


def _query(sql: str, **tables: pd.DataFrame) -> pd.DataFrame:
    """One query over small pandas tables (farms.csv, harvests.csv) in a private DuckDB."""
    con = duckdb.connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        return con.execute(sql).df()
    finally:
        con.close()


def _texts(columns, raw: str = "{c}_raw") -> str:
    """Each column as read (NULL: the file lacks it, read as empty) and stripped."""
    return ", ".join(
        f"coalesce({c}, '') AS {raw.format(c=c)}, trim(coalesce({c}, ''), {SPACE}) AS {c}"
        for c in columns
    )


def _number(column: str) -> str:
    return f"CASE WHEN NOT contains({column}, '_') THEN TRY_CAST({column} AS DOUBLE) END"


def _found(checked: pd.DataFrame, file: str, scope: str) -> pd.DataFrame:
    """Quarantine entries from `found`, per line a list of [column, raw, reason] lists."""
    rows = [
        (file, line, *entry)
        for line, found in zip(checked["_line"], checked["found"], strict=True)
        if isinstance(found, list | np.ndarray)
        for entry in found
    ]
    return entries(*(zip(*rows, strict=True) if rows else ([],) * 5), scope)


def _table(raw: pd.DataFrame, columns) -> pd.DataFrame:
    """The columns as text, missing cells (or a column the file lacks) empty."""
    return pd.DataFrame(
        {c: raw[c].fillna("").astype(str) for c in columns} | {"_line": raw["_line"]}
    )


def check_harvests(
    raw: pd.DataFrame, known_farms: set[str] | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valid harvest rows (the labels) and quarantine entries (scope "harvest").

    A label that breaks a rule would teach the model something false, so the row leaves
    whole with the first rule it breaks. Duplicate (farm_id, season) rows cannot be told
    apart, so all copies leave (a copy that breaks another rule reports that rule instead).
    """
    low, high = YIELD_RANGE_T_HA
    rules = [f"WHEN {c} = '' THEN ['{c}', {c}_raw, 'missing {c}']" for c in HARVEST_COLUMNS]
    rules += [
        "WHEN season_n IS NULL THEN ['season', season_raw, 'season is not an integer']",
        *(
            f"WHEN {c[0]} IS NULL THEN ['{c[1]}', {c[1]}_raw, "
            f"'{c[1]} is not an ISO date (YYYY-MM-DD)']"
            for c in (("planted", "planting_date"), ("harvested", "harvest_date"))
        ),
        "WHEN yield IS NULL OR isnan(yield) "
        "THEN ['yield_t_ha', yield_t_ha_raw, 'yield_t_ha is not a number']",
        f"WHEN NOT (yield > {low} AND yield < {high}) "
        f"THEN ['yield_t_ha', yield_t_ha_raw, 'yield_t_ha not in ({low:g}, {high:g})']",
        "WHEN harvested <= planted "
        "THEN ['harvest_date', harvest_date_raw, 'harvest_date is not after planting_date']",
        "WHEN season_n <> year(harvested) "
        "THEN ['season', season_raw, 'season is not the year of harvest_date']",
    ]
    if known_farms is not None:
        rules.append(
            "WHEN farm_id NOT IN (SELECT farm_id FROM known) "
            "THEN ['farm_id', farm_id_raw, 'farm_id not in farms.csv']"
        )
    rules.append(
        "WHEN duplicate THEN ['season', season_raw, 'duplicate harvest (farm_id, season)']"
    )
    dates = "".join(
        f", CASE WHEN regexp_full_match({c}, '\\d{{4}}-\\d{{2}}-\\d{{2}}') "
        f"THEN try_strptime({c}, '%Y-%m-%d') END AS {name}"
        for name, c in (("planted", "planting_date"), ("harvested", "harvest_date"))
    )
    checked = _query(
        f"""WITH t AS (SELECT _line, {_texts(HARVEST_COLUMNS)} FROM raw),
        typed AS (
          SELECT *, CASE WHEN regexp_full_match(season, '[+-]?\\d{{1,9}}')
            THEN CAST(season AS BIGINT) END AS season_n{dates},
            {_number("yield_t_ha")} AS yield FROM t),
        keyed AS (
          SELECT *, farm_id <> '' AND season_n IS NOT NULL
            AND count(*) OVER (PARTITION BY farm_id, season_n) > 1 AS duplicate FROM typed)
        SELECT _line, farm_id, season_n, crop, planted, harvested, yield,
          CASE WHEN rule IS NOT NULL THEN [rule] END AS found
        FROM (SELECT *, CASE {" ".join(rules)} END AS rule FROM keyed) ORDER BY _line""",
        raw=_table(raw, HARVEST_COLUMNS),
        known=pd.DataFrame({"farm_id": sorted(known_farms or ())}, dtype=str),
    )
    ok = checked["found"].isna()
    harvests = pd.DataFrame(
        {
            "farm_id": checked["farm_id"][ok].astype(str),
            "season": checked["season_n"][ok].astype("int64"),
            "crop": checked["crop"][ok].astype(str),
            "planting_date": checked["planted"][ok].astype("datetime64[ns]"),
            "harvest_date": checked["harvested"][ok].astype("datetime64[ns]"),
            "yield_t_ha": checked["yield"][ok].astype("float64"),
        }
    )
    return harvests.reset_index(drop=True), _found(checked, _file_of(raw), "harvest")


def check_farms(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Farm attributes with bad single values set missing (scope "farm").

    A farm row without farm_id cannot be used; a repeated farm_id keeps its first row. A
    bad latitude/longitude, irrigated flag or timezone name is reported and dropped (the
    farm then counts as non-irrigated, and its naive timestamps as UTC).
    """
    columns = [c for c in raw.columns if c not in ("_file", "_line")]
    zones = raw["timezone"].fillna("").astype(str).str.strip().unique()
    known_zones = pd.DataFrame({"zone": [z for z in zones if _is_timezone(z)]}, dtype=str)
    flags = ", ".join(f"'{f}'" for f in _TRUE + _FALSE)
    coords = {c: _number(c) for c in ("latitude", "longitude")}
    values = ", ".join(
        f"""CASE WHEN {c} <> '' AND ({n} IS NULL OR isnan({n}))
              THEN ['{c}', {c}, 'not a number']
            WHEN NOT ({n} BETWEEN -{limit} AND {limit})
              THEN ['{c}', {c}, 'out of range [-{limit:g}, {limit:g}]'] END"""
        for (c, n), limit in zip(coords.items(), (90.0, 180.0), strict=True)
    )
    checked = _query(
        f"""WITH t AS (SELECT _line, {_texts(columns)} FROM raw),
        ranked AS (SELECT *, row_number() OVER (PARTITION BY farm_id ORDER BY _line) AS nth
          FROM t)
        SELECT _line, farm_id, nullif(name, '') AS name,
          CASE WHEN NOT ({coords["latitude"]} BETWEEN -90 AND 90) THEN NULL
            ELSE {coords["latitude"]} END AS latitude,
          CASE WHEN NOT ({coords["longitude"]} BETWEEN -180 AND 180) THEN NULL
            ELSE {coords["longitude"]} END AS longitude,
          coalesce(nullif(soil_type, ''), 'unknown') AS soil_type,
          lower(irrigated) IN ({", ".join(f"'{f}'" for f in _TRUE)}) AS irrigated,
          CASE WHEN timezone IN (SELECT zone FROM known_zones) THEN timezone END AS timezone,
          CASE WHEN farm_id = '' THEN [['farm_id', farm_id_raw, 'missing farm_id']]
            WHEN nth > 1 THEN [['farm_id', farm_id_raw, 'duplicate farm_id (first row kept)']]
            ELSE list_filter([{values},
              CASE WHEN irrigated <> '' AND lower(irrigated) NOT IN ({flags})
                THEN ['irrigated', irrigated, 'not a boolean (true/false)'] END,
              CASE WHEN timezone <> '' AND timezone NOT IN (SELECT zone FROM known_zones)
                THEN ['timezone', timezone, 'unknown timezone (read as UTC)'] END],
              e -> e IS NOT NULL)
          END AS found,
          farm_id = '' OR nth > 1 AS failed
        FROM ranked ORDER BY _line""",
        raw=_table(raw, columns),
        known_zones=known_zones,
    )
    kept = checked[~checked["failed"]]
    farms = pd.DataFrame(
        {
            "farm_id": kept["farm_id"].astype(str),
            "name": pd.Series(kept["name"], dtype=str),
            "latitude": kept["latitude"].astype("float64"),
            "longitude": kept["longitude"].astype("float64"),
            "soil_type": kept["soil_type"].astype(str),
            "irrigated": kept["irrigated"].astype(bool),
            "timezone": pd.Series(kept["timezone"], dtype=str),
        }
    )
    return farms.reset_index(drop=True), _found(checked, _file_of(raw), "farm")


def _file_of(raw: pd.DataFrame) -> str:
    return str(raw["_file"].iloc[0]) if len(raw) else ""


def _is_timezone(name: str) -> bool:
    if not name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
