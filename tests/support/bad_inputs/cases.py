"""The corpus: one kind of damage per case, applied to a copy of a clean base dataset.

A builder damages the dataset root it is given and returns the Outcome it expects: the
exact quarantine entries, the change of every count against the clean base, the notes,
and (where the case is about them) what must hold for the season features and the split.
A run that must stop instead is a StopCase: the builder returns what the one `error:`
line must name.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tests.support.bad_inputs.dataset import (
    SENSOR_HEADER,
    TARGET,
    TARGET_LINE,
    append_lines,
    cell,
    data_rows,
    find_line,
    read_lines,
    season_files,
    set_cell,
    write_lines,
)
from yieldflow.contract import SENSOR_RANGES

Entry = tuple[str, int, str, str, str, str]  # file, line, column, raw_value, reason, scope
COVERAGE_0 = "sensor coverage 0% of the growing window is below 70%"
DUPLICATE_HARVEST = "duplicate harvest (farm_id, season)"
YIELD_RANGE = "yield_t_ha not in (0, 100)"


@dataclass
class Outcome:
    entries: list[Entry] = field(default_factory=list)  # exactly the quarantine report
    delta: dict[str, int] = field(default_factory=dict)  # accounting minus the clean base's
    notes: list[str] = field(default_factory=list)  # exactly the ingestion notes
    same_readings: bool = False  # the accepted readings equal the clean base's
    farm_renames: dict[str, str] = field(default_factory=dict)  # new id -> base id
    # Features and split, checked when set: feature rows of the base that must be missing,
    # the exclusions (farm_id, season, reason), identical features, the resulting split.
    features_missing: list[tuple[str, int]] | None = None
    excluded: list[tuple[str, int, str]] | None = None
    same_features: bool = False
    split: dict[str, list[int]] | None = None
    split_error: str | None = None  # InsufficientSeasonsError must name this shortfall

    @property
    def checks_features(self) -> bool:
        return (
            self.same_features
            or self.features_missing is not None
            or self.excluded is not None
            or self.split is not None
            or self.split_error is not None
        )


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path], Outcome]
    seasons: int = 3  # which clean base to start from


def _rows_gone(rows: int, failed: bool) -> dict[str, int]:
    """A sensor file whose rows never become readings (failed: not even read)."""
    delta = {"rows_read": -rows, "rows_accepted": -rows}
    if failed:
        delta |= {"files_read": -1, "files_failed": 1}
    return delta


def _file_fails(reason: str, content: Callable[[Path], bytes]) -> Callable[[Path], Outcome]:
    def build(root: Path) -> Outcome:
        rows = data_rows(root, TARGET)
        (root / TARGET).write_bytes(content(root))
        return Outcome([(TARGET, 0, "", "", reason, "file")], _rows_gone(rows, failed=True))

    return build


def _target_text(root: Path) -> str:
    return (root / TARGET).read_text(encoding="utf-8")


def _header_only(root: Path) -> Outcome:
    rows = data_rows(root, TARGET)
    write_lines(root, TARGET, [SENSOR_HEADER])
    entry = (TARGET, 0, "", "", "no data rows (header only)", "file")
    return Outcome([entry], _rows_gone(rows, failed=False))


HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    "<body><h1>502 Bad Gateway</h1><p>The logger portal is down, please retry.</p></body>\n"
    "</html>\n"
)
GARBAGE = bytes(range(256)) * 4  # every byte value: NUL bytes and invalid UTF-8


def _latin1(root: Path) -> bytes:
    lines = read_lines(root, TARGET)
    lines[0] += ",site"
    lines[1:] = [f"{line},Pré-Vert" for line in lines[1:]]
    return ("\n".join(lines) + "\n").encode("latin-1")


def _latin1_reason(root: Path) -> str:
    offset = _latin1(root).index(b"\xe9")
    return f"not UTF-8 text (byte 0xe9 at offset {offset}); export the file as UTF-8"


def _latin1_case(root: Path) -> Outcome:
    return _file_fails(_latin1_reason(root), _latin1)(root)


def _missing_required(root: Path) -> bytes:
    frame = pd.read_csv(root / TARGET, dtype=str, keep_default_na=False)
    return frame.drop(columns="rainfall_mm").to_csv(index=False, lineterminator="\n").encode()


def _missing_optional(root: Path) -> Outcome:
    frame = pd.read_csv(root / TARGET, dtype=str, keep_default_na=False)
    frame.drop(columns="soil_temp_c").to_csv(root / TARGET, index=False, lineterminator="\n")
    return Outcome()  # an absent optional column is simply missing: no event, no count


def _extra_columns(root: Path) -> Outcome:
    lines = read_lines(root, TARGET)
    lines[0] += ",battery_v,logger_sn"
    lines[1:] = [f"{line},3.71,SN-0042" for line in lines[1:]]
    write_lines(root, TARGET, lines)
    note = f"{TARGET}: extra column(s) ignored: battery_v, logger_sn"
    return Outcome(notes=[note], same_readings=True)


def _trailing_delimiter(root: Path) -> Outcome:
    write_lines(root, TARGET, [f"{line}," for line in read_lines(root, TARGET)])
    note = f"{TARGET}: extra column(s) ignored: (unnamed)"
    return Outcome(notes=[note], same_readings=True)


def _concatenated(root: Path) -> Outcome:
    """Two exports glued with `cat`: the second header is now a data row."""
    july = "sensors/F02/2022-07.csv"
    first = read_lines(root, TARGET)
    write_lines(root, TARGET, first + read_lines(root, july))
    (root / july).unlink()
    entry = (TARGET, len(first) + 1, "farm_id", "farm_id", "farm_id does not match its folder")
    return Outcome(
        [(*entry, "row")],
        {"rows_read": 1, "rows_quarantined": 1, "files_read": -1},
        same_readings=True,
    )


def _value(column: str, raw: str, reason: str) -> Callable[[Path], Outcome]:
    def build(root: Path) -> Outcome:
        set_cell(root, TARGET, TARGET_LINE, column, raw)
        return Outcome(
            [(TARGET, TARGET_LINE, column, raw, reason, "value")], {"readings_nulled": 1}
        )

    return build


def _bad_row(column: str, raw: str, reason: str, key: str = TARGET, line: int = TARGET_LINE):
    def build(root: Path) -> Outcome:
        set_cell(root, key, line, column, raw)
        delta = {"rows_quarantined": 1, "rows_accepted": -1}
        return Outcome([(key, line, column, raw, reason, "row")], delta)

    return build


def _rewrite_timestamps(root: Path, key: str, convert: Callable[[pd.Series], pd.Series]) -> None:
    frame = pd.read_csv(root / key, dtype=str, keep_default_na=False)
    frame["timestamp"] = convert(pd.to_datetime(frame["timestamp"], utc=True))
    frame.to_csv(root / key, index=False, lineterminator="\n")


def _naive_utc(root: Path) -> Outcome:
    _rewrite_timestamps(root, TARGET, lambda t: t.dt.strftime("%Y-%m-%dT%H:%M:%S"))
    return Outcome(same_readings=True)  # F02 has no timezone in farms.csv: naive = UTC


def _naive_local(root: Path) -> Outcome:
    """The logger writes local wall-clock time and farms.csv says which zone."""
    zone = "America/Winnipeg"
    farms = read_lines(root, "farms.csv")
    line = find_line(root, "farms.csv", farm_id="F02")
    farms[line - 1] = farms[line - 1] + zone  # the timezone column is the last, empty
    write_lines(root, "farms.csv", farms)

    def local(stamps: pd.Series) -> pd.Series:
        return stamps.dt.tz_convert(zone).dt.strftime("%Y-%m-%dT%H:%M:%S")

    _rewrite_timestamps(root, TARGET, local)
    return Outcome(same_readings=True)


def _naive_nonexistent(root: Path) -> Outcome:
    """F01 writes naive America/Los_Angeles time; 02:30 on 13 March 2022 never happened."""
    key = "sensors/F01/2022-03.csv"
    line = find_line(root, key, timestamp="2022-03-13T03:00:00")
    return _bad_row(
        "timestamp", "2022-03-13T02:30:00", "ambiguous or nonexistent local time", key, line
    )(root)


def _offsets(root: Path) -> Outcome:
    _rewrite_timestamps(
        root,
        TARGET,
        lambda t: (t + pd.Timedelta(hours=5, minutes=30)).dt.strftime("%Y-%m-%dT%H:%M:%S+05:30"),
    )
    return Outcome(same_readings=True)


def _exact_duplicates(root: Path) -> Outcome:
    copy = "sensors/F02/2022-06-reexport.csv"
    write_lines(root, copy, read_lines(root, TARGET)[:241])  # header + 10 days
    delta = {"rows_read": 240, "duplicate_rows_dropped": 240, "files_read": 1}
    return Outcome(delta=delta, same_readings=True)


def _conflicting(root: Path) -> Outcome:
    fix = "sensors/F02/2022-06-fix.csv"
    write_lines(root, fix, [SENSOR_HEADER, read_lines(root, TARGET)[TARGET_LINE - 1]])
    stamp = cell(root, fix, 2, "timestamp")
    set_cell(root, fix, 2, "air_temp_c", "1.5")
    reason = "conflicting duplicate"
    return Outcome(
        [
            (TARGET, TARGET_LINE, "timestamp", stamp, reason, "row"),
            (fix, 2, "timestamp", stamp, reason, "row"),
        ],
        {"rows_read": 1, "files_read": 1, "rows_quarantined": 2, "rows_accepted": -1},
    )


def _out_of_order(root: Path) -> Outcome:
    lines = read_lines(root, TARGET)
    write_lines(root, TARGET, [lines[0], *reversed(lines[1:])])
    return Outcome(same_readings=True)


def _future(root: Path) -> Outcome:
    raw = "2026-06-01T00:00:00Z"
    row = f"F02,{raw},14.2,0.0,60.0,25.0,15.0,300.0,2.0"
    line = append_lines(root, TARGET, row)
    return Outcome(
        [(TARGET, line, "timestamp", raw, "timestamp in the future", "row")],
        {"rows_read": 1, "rows_quarantined": 1},
    )


def _outside_windows(root: Path) -> Outcome:
    """December 2021 at F02: after the 2021 harvest, before the 2022 lead-in (accepted)."""
    stamps = pd.date_range("2021-12-01", periods=31 * 24, freq="h", tz="UTC")
    rows = [f"F02,{t:%Y-%m-%dT%H:%M:%SZ},-6.5,0.4,85.0,31.0,1.5,40.0,4.5" for t in stamps]
    write_lines(root, "sensors/F02/2021-12.csv", [SENSOR_HEADER, *rows])
    delta = {"rows_read": len(rows), "rows_accepted": len(rows), "files_read": 1}
    return Outcome(delta=delta, same_features=True)


def _harvest_value(farm: str, season: int, column: str, raw: str, reason: str):
    def build(root: Path) -> Outcome:
        line = find_line(root, "harvests.csv", farm_id=farm, season=str(season))
        set_cell(root, "harvests.csv", line, column, raw)
        return Outcome(
            [("harvests.csv", line, column, raw, reason, "harvest")],
            {"harvest_rows_accepted": -1, "harvest_rows_quarantined": 1},
            features_missing=[(farm, season)],
            excluded=[],
        )

    return build


def _harvest_before_planting(root: Path) -> Outcome:
    line = find_line(root, "harvests.csv", farm_id="F01", season="2022")
    planted = pd.Timestamp(cell(root, "harvests.csv", line, "planting_date"))
    raw = f"{planted - pd.Timedelta(days=10):%Y-%m-%d}"
    assert planted.year == pd.Timestamp(raw).year  # one rule broken, not also the season's
    reason = "harvest_date is not after planting_date"
    return _harvest_value("F01", 2022, "harvest_date", raw, reason)(root)


def _duplicate_harvest(root: Path) -> Outcome:
    line = find_line(root, "harvests.csv", farm_id="F02", season="2022")
    again = read_lines(root, "harvests.csv")[line - 1].rsplit(",", 1)[0] + ",5.1"
    second = append_lines(root, "harvests.csv", again)
    return Outcome(
        [
            ("harvests.csv", n, "season", "2022", DUPLICATE_HARVEST, "harvest")
            for n in (line, second)
        ],
        {"harvest_rows_read": 1, "harvest_rows_accepted": -1, "harvest_rows_quarantined": 2},
        features_missing=[("F02", 2022)],
        excluded=[],
    )


def _farm_without_harvests(root: Path) -> Outcome:
    lines = read_lines(root, "harvests.csv")
    write_lines(root, "harvests.csv", [x for x in lines if not x.startswith("F03,")])
    return Outcome(
        delta={"harvest_rows_read": -3, "harvest_rows_accepted": -3},
        notes=["farm 'F03': sensor readings but no valid harvest rows"],
        features_missing=[("F03", 2021), ("F03", 2022), ("F03", 2023)],
        excluded=[],
    )


def _farm_without_sensors(root: Path) -> Outcome:
    append_lines(root, "farms.csv", "F04,Dry Gulch Farm,50.1,-99.5,Loam,false,")
    append_lines(root, "harvests.csv", "F04,2022,Maize,2022-04-20,2022-09-10,9.1")
    return Outcome(
        delta={"harvest_rows_read": 1, "harvest_rows_accepted": 1},
        notes=["farm 'F04': harvest rows but no accepted sensor readings"],
        features_missing=[],
        excluded=[("F04", 2022, COVERAGE_0)],
    )


def _season_without_usable_farms(root: Path) -> Outcome:
    """Every logger was offline for season 2023: its three harvests are left out."""
    keys = season_files(root, 2023)
    rows = sum(data_rows(root, key) for key in keys)
    for key in keys:
        (root / key).unlink()
    return Outcome(
        delta={"rows_read": -rows, "rows_accepted": -rows, "files_read": -len(keys)},
        features_missing=[("F01", 2023), ("F02", 2023), ("F03", 2023)],
        excluded=[("F01", 2023, COVERAGE_0), ("F02", 2023, COVERAGE_0), ("F03", 2023, COVERAGE_0)],
        split={"train": [2021], "val": [2022], "test": [2024]},
    )


ALL_HARVESTS = [(f, s) for f in ("F01", "F02", "F03") for s in (2021, 2022, 2023)]
NO_SEASONS = "needs at least 3 seasons with usable harvests (1 train + 1 validation + 1 test), "
NO_SEASONS += "but the data has 0: none"
NO_LABELS = [f"farm 'F0{n}': sensor readings but no valid harvest rows" for n in (1, 2, 3)]


def _harvests_header_only(root: Path) -> Outcome:
    write_lines(root, "harvests.csv", read_lines(root, "harvests.csv")[:1])
    return Outcome(
        delta={"harvest_rows_read": -9, "harvest_rows_accepted": -9},
        notes=NO_LABELS,
        features_missing=ALL_HARVESTS,
        excluded=[],
        split_error=NO_SEASONS,
    )


def _harvests_all_rejected(root: Path) -> Outcome:
    lines = read_lines(root, "harvests.csv")
    write_lines(root, "harvests.csv", [lines[0]] + [x.rsplit(",", 1)[0] + ",0" for x in lines[1:]])
    return Outcome(
        [("harvests.csv", n, "yield_t_ha", "0", YIELD_RANGE, "harvest") for n in range(2, 11)],
        {"harvest_rows_accepted": -9, "harvest_rows_quarantined": 9},
        notes=NO_LABELS,
        features_missing=ALL_HARVESTS,
        excluded=[],
        split_error=NO_SEASONS,
    )


def _renamed(name: str) -> Callable[[Path], Outcome]:
    def build(root: Path) -> Outcome:
        (root / TARGET).rename(root / "sensors/F02" / name)
        return Outcome(same_readings=True)

    return build


def _unicode_farm(root: Path) -> Outcome:
    """Farm F02 is called "Ferme Été 02": its folder, its rows, farms.csv, harvests.csv."""
    new = "Ferme Été 02"
    (root / "sensors/F02").rename(root / "sensors" / new)
    keys = [
        "farms.csv",
        "harvests.csv",
        *(f"sensors/{new}/{p.name}" for p in (root / "sensors" / new).iterdir()),
    ]
    for key in keys:
        write_lines(
            root,
            key,
            [new + line[3:] if line.startswith("F02,") else line for line in read_lines(root, key)],
        )
    return Outcome(same_readings=True, farm_renames={new: "F02"})


def _parquet(frame: Callable[[pd.DataFrame], pd.DataFrame], strings: bool):
    """The target file as Parquet instead of CSV, after `frame` changed its table."""

    def build(root: Path) -> Outcome:
        table = pd.read_csv(root / TARGET, dtype=str if strings else None, keep_default_na=False)
        if not strings:
            table["timestamp"] = pd.to_datetime(table["timestamp"], utc=True)
        (root / TARGET).unlink()
        buffer = io.BytesIO()
        frame(table).to_parquet(buffer, index=False)
        (root / PARQUET).write_bytes(buffer.getvalue())
        return Outcome(same_readings=True)

    return build


PARQUET = TARGET.replace(".csv", ".parquet")


def _parquet_missing_column(root: Path) -> Outcome:
    rows = data_rows(root, TARGET)
    _parquet(lambda t: t.drop(columns="rainfall_mm"), strings=False)(root)
    entry = (PARQUET, 0, "", "", "missing required column(s): rainfall_mm", "file")
    return Outcome([entry], _rows_gone(rows, failed=True))


def _parquet_extra_column(root: Path) -> Outcome:
    _parquet(lambda t: t.assign(battery_v=3.7), strings=False)(root)
    return Outcome(notes=[f"{PARQUET}: extra column(s) ignored: battery_v"], same_readings=True)


def _utf16(root: Path) -> bytes:
    return _target_text(root).encode("utf-16")


def _semicolon(root: Path) -> bytes:
    return _target_text(root).replace(",", ";").encode()


SENTINELS = [
    ("sentinel-minus-9999", "-9999", "logger sentinel"),
    ("sentinel-minus-999", "-999", "logger sentinel"),
    ("sentinel-9999", "9999", "logger sentinel"),
    ("sentinel-nan", "NaN", "NaN"),
    ("sentinel-empty", "", "empty"),
]


def _range_cases() -> list[Case]:
    """Every sensor column just below and just above its physical range."""
    cases = []
    for column, (low, high) in SENSOR_RANGES.items():
        reason = f"out of range [{low:g}, {high:g}]"
        for end, raw in (("low", f"{low - 0.5:g}"), ("high", f"{high + 0.5:g}")):
            cases.append(Case(f"range-{column}-{end}", _value(column, raw, reason)))
    return cases


CASES: list[Case] = [
    # whole files
    Case("file-empty", _file_fails("empty file", lambda root: b"")),
    Case("file-header-only", _header_only),
    Case(
        "file-binary-garbage",
        _file_fails("binary content (NUL bytes): not a CSV text file", lambda root: GARBAGE),
    ),
    Case(
        "file-html-error-page",
        _file_fails(
            "no header row: first line '<!DOCTYPE html>' names none of the expected columns",
            lambda root: HTML_PAGE.encode(),
        ),
    ),
    Case("encoding-latin-1", _latin1_case),
    Case(
        "encoding-utf-16",
        _file_fails("not UTF-8 text (UTF-16 byte order mark); export the file as UTF-8", _utf16),
    ),
    Case(
        "delimiter-semicolon",
        _file_fails(
            "not comma-separated: the header row is split by ';'; export with ',' as the delimiter",
            _semicolon,
        ),
    ),
    Case(
        "column-missing-required",
        _file_fails("missing required column(s): rainfall_mm", _missing_required),
    ),
    Case(
        "file-classic-mac-line-endings",
        _file_fails(
            "lines end in CR only (old Mac format); export with LF or CRLF",
            lambda root: _target_text(root).replace("\n", "\r").encode(),
        ),
    ),
    Case("column-missing-optional", _missing_optional),
    Case("columns-extra", _extra_columns),
    Case("columns-trailing-delimiter", _trailing_delimiter),
    Case("file-concatenated-exports", _concatenated),
    # single values
    Case("value-not-a-number", _value("air_temp_c", "#VALUE!", "not a number")),
    *[Case(name, _value("air_temp_c", raw, reason)) for name, raw, reason in SENTINELS],
    *_range_cases(),
    # timestamps and farm ids: the row leaves whole, or nothing changes
    Case(
        "timestamp-unparseable",
        _bad_row("timestamp", "2022-06-31T25:00:00Z", "unparseable timestamp"),
    ),
    Case("timestamp-naive-no-farm-timezone", _naive_utc),
    Case("timestamp-naive-farm-timezone", _naive_local),
    Case("timestamp-naive-nonexistent-local-time", _naive_nonexistent),
    Case("timestamp-with-offsets", _offsets),
    Case("timestamp-duplicated-exact", _exact_duplicates),
    Case("timestamp-conflicting", _conflicting),
    Case("timestamp-out-of-order", _out_of_order),
    Case("timestamp-in-the-future", _future),
    Case("timestamp-outside-growing-windows", _outside_windows),
    Case(
        "farm-id-disagrees-with-folder",
        _bad_row("farm_id", "F03", "farm_id does not match its folder"),
    ),
    # harvests, farms and seasons
    Case("farm-sensors-without-harvests", _farm_without_harvests),
    Case("farm-harvests-without-sensors", _farm_without_sensors),
    Case("harvest-duplicate-farm-season", _duplicate_harvest),
    Case("harvest-before-planting", _harvest_before_planting),
    Case("yield-zero", _harvest_value("F03", 2022, "yield_t_ha", "0", YIELD_RANGE)),
    Case("yield-negative", _harvest_value("F03", 2022, "yield_t_ha", "-2.5", YIELD_RANGE)),
    Case("yield-100", _harvest_value("F03", 2022, "yield_t_ha", "100", YIELD_RANGE)),
    Case("yield-absurd", _harvest_value("F03", 2022, "yield_t_ha", "1250", YIELD_RANGE)),
    Case("season-without-usable-farms", _season_without_usable_farms, seasons=4),
    Case("harvests-header-only", _harvests_header_only),
    Case("harvests-all-rejected", _harvests_all_rejected),
    # names
    Case("key-spaces-and-unicode", _renamed("Export Juni 2022 – Prüfung ü.csv")),
    Case("key-dots-inside-a-name", _renamed("2022..06.csv")),
    Case("key-unicode-farm-folder", _unicode_farm),
    # Parquet
    Case("parquet-numeric-types", _parquet(lambda t: t, strings=False)),
    Case("parquet-string-types", _parquet(lambda t: t, strings=True)),
    Case("parquet-extra-column", _parquet_extra_column),
    Case("parquet-missing-required-column", _parquet_missing_column),
]


@dataclass(frozen=True)
class StopCase:
    """The run must stop: `build` damages the root and returns what the error line names."""

    id: str
    build: Callable[[Path], list[str]]
    seasons: int = 3
    cli: bool = True  # also through `yieldflow run` (~5-25 s each), not only in process


def _stop_harvests(content: bytes, *named: str) -> Callable[[Path], list[str]]:
    def build(root: Path) -> list[str]:
        (root / "harvests.csv").write_bytes(content)
        return ["IngestionError: harvests.csv: ", *named]

    return build


def _stop_harvests_semicolon(root: Path) -> list[str]:
    text = (root / "harvests.csv").read_text(encoding="utf-8").replace(",", ";")
    return _stop_harvests(text.encode(), "not comma-separated", "';'")(root)


def _stop_harvests_cr(root: Path) -> list[str]:
    text = (root / "harvests.csv").read_text(encoding="utf-8").replace("\n", "\r")
    return _stop_harvests(text.encode(), "lines end in CR only")(root)


def _stop_no_sensor_file(root: Path) -> list[str]:
    keys = sorted(p.relative_to(root).as_posix() for p in root.glob("sensors/*/*.csv"))
    for key in keys:
        (root / key).write_text(HTML_PAGE, encoding="utf-8")
    return [
        "IngestionError: sensors/: no usable sensor file",
        f"{len(keys)} failed",
        f"first: {keys[0]}: no header row",
    ]


def _stop_too_few_seasons(root: Path) -> list[str]:
    return ["needs at least 3 seasons", "the data has 2: 2021, 2022"]


def _stop_season_without_usable_farms(root: Path) -> list[str]:
    for key in season_files(root, 2022):
        (root / key).unlink()
    return ["needs at least 3 seasons", "the data has 2: 2021, 2023"]


def _stop_no_valid_harvest(root: Path) -> list[str]:
    lines = read_lines(root, "harvests.csv")
    write_lines(root, "harvests.csv", [lines[0]] + [x.rsplit(",", 1)[0] + ",0" for x in lines[1:]])
    return ["needs at least 3 seasons", "the data has 0: none"]


STOP_CASES: list[StopCase] = [
    StopCase("stop-harvests-empty-file", _stop_harvests(b"", "empty file")),
    StopCase("stop-harvests-semicolon", _stop_harvests_semicolon, cli=False),
    StopCase("stop-harvests-cr-line-endings", _stop_harvests_cr, cli=False),
    StopCase("stop-no-usable-sensor-file", _stop_no_sensor_file),
    StopCase("stop-no-valid-harvest", _stop_no_valid_harvest, cli=False),
    StopCase("stop-too-few-seasons", _stop_too_few_seasons, seasons=2),
    StopCase("stop-season-without-usable-farms", _stop_season_without_usable_farms),
]
