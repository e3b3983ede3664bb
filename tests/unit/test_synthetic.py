"""The synthetic dataset generator: contract shape, determinism, faults and the yield truth."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yieldflow.contract import (
    FARM_COLUMNS,
    HARVEST_COLUMNS,
    LOGGER_SENTINELS,
    REQUIRED_SENSOR_COLUMNS,
    SENSOR_RANGES,
    SENSOR_VALUE_COLUMNS,
)
from yieldflow.synthetic import (
    CROP_GDD_BASE_C,
    CROP_GDD_REQUIRED,
    CROP_HEAT_STRESS_C,
    LEAD_DAYS,
    PLANNED_SEASONS_FILE,
    GeneratedDatasetInfo,
    generate_dataset,
    yield_model,
)
from yieldflow.synthetic.weather import first_wall_clock_occurrence

SMALL = {"farms": 3, "seasons": 2, "first_season": 2022}


@dataclass(frozen=True)
class Generated:
    root: Path
    info: GeneratedDatasetInfo


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    root = tmp_path_factory.mktemp("faulty") / "data"
    return Generated(root, generate_dataset(root, seed=11, **SMALL))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    root = tmp_path_factory.mktemp("clean") / "data"
    return Generated(root, generate_dataset(root, seed=11, faults=False, **SMALL))


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _sensor_files(root: Path, farm_id: str, reexports: bool = True) -> list[Path]:
    files = sorted((root / "sensors" / farm_id).glob("*.csv"))
    return [f for f in files if reexports or "reexport" not in f.name]


def _readings(root: Path, farm_id: str, timezone: str | None) -> pd.DataFrame:
    """A farm's readings, exact duplicates dropped, with UTC timestamps, in time order."""
    frame = pd.concat(
        [pd.read_csv(f, dtype={"timestamp": str}) for f in _sensor_files(root, farm_id)]
    )
    frame = frame.drop_duplicates()
    stamps = pd.to_datetime(frame["timestamp"], format="ISO8601")
    if timezone:
        assert stamps.dt.tz is None, "farms with a timezone write naive local time"
        ambiguous = np.ones(len(stamps), dtype=bool)  # the generator keeps the DST copy
        stamps = stamps.dt.tz_localize(timezone, ambiguous=ambiguous).dt.tz_convert("UTC")
    else:
        assert str(stamps.dt.tz) == "UTC" and frame["timestamp"].str.endswith("Z").all()
    return frame.assign(utc=stamps.to_numpy()).sort_values("utc").reset_index(drop=True)


def _timezones(root: Path) -> dict[str, str | None]:
    farms = pd.read_csv(root / "farms.csv", keep_default_na=False)
    return {row.farm_id: (row.timezone or None) for row in farms.itertuples()}


def _harvests(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "harvests.csv", parse_dates=["planting_date", "harvest_date"])


def test_same_seed_gives_identical_files_and_other_seed_differs(
    faulty: Generated, tmp_path: Path
) -> None:
    again = generate_dataset(tmp_path / "again", seed=11, **SMALL)
    other = generate_dataset(tmp_path / "other", seed=12, **SMALL)
    assert _hashes(faulty.root) == _hashes(again.out_dir)
    first, second = _hashes(faulty.root), _hashes(other.out_dir)
    assert first["harvests.csv"] != second["harvests.csv"]
    assert first != second


def test_adding_farms_leaves_existing_farms_unchanged(faulty: Generated, tmp_path: Path) -> None:
    fewer = generate_dataset(tmp_path / "fewer", seed=11, **{**SMALL, "farms": 2})
    big, small = _hashes(faulty.root), _hashes(fewer.out_dir)
    f01 = {k: v for k, v in small.items() if k.startswith("sensors/F01/")}
    assert f01 and all(big[k] == v for k, v in f01.items())


def test_files_follow_the_contract(faulty: Generated) -> None:
    root, info = faulty.root, faulty.info
    farms = pd.read_csv(root / "farms.csv", keep_default_na=False, dtype=str)
    farms[["latitude", "longitude"]] = farms[["latitude", "longitude"]].astype(float)
    assert tuple(farms.columns) == FARM_COLUMNS
    assert list(farms["farm_id"]) == ["F01", "F02", "F03"]
    assert farms["latitude"].between(-90, 90).all() and farms["longitude"].between(-180, 180).all()
    assert (farms["latitude"] < 0).any() and (farms["latitude"] > 0).any()
    assert set(farms["irrigated"]) <= {"true", "false"}
    assert (farms["timezone"] != "").any()

    harvests = _harvests(root)
    assert tuple(harvests.columns) == HARVEST_COLUMNS
    assert len(harvests) == info.n_harvests == 6
    assert not harvests.duplicated(["farm_id", "season"]).any()
    assert (harvests["harvest_date"] > harvests["planting_date"]).all()
    assert ((harvests["yield_t_ha"] > 0) & (harvests["yield_t_ha"] < 100)).all()
    assert (harvests["season"] == harvests["harvest_date"].dt.year).all()
    length = (harvests["harvest_date"] - harvests["planting_date"]).dt.days
    assert length.between(90, 165).all()
    southern = harvests.merge(farms[["farm_id", "latitude"]]).query("latitude < 0")
    assert len(southern) > 0
    assert southern["planting_date"].dt.month.isin([10, 11]).all()
    assert southern["harvest_date"].dt.month.isin([2, 3]).all()
    assert (southern["planting_date"].dt.year == southern["season"] - 1).all()
    crops = harvests.sort_values("season").groupby("farm_id")["crop"].agg(list)
    assert all(a != b for a, b in crops), "farms rotate crops between seasons"

    n_rows = n_files = 0
    for folder in sorted((root / "sensors").iterdir()):
        for path in _sensor_files(root, folder.name):
            frame = pd.read_csv(path, dtype={"timestamp": str})
            assert tuple(frame.columns) == ("farm_id", "timestamp", *SENSOR_VALUE_COLUMNS)
            assert set(REQUIRED_SENSOR_COLUMNS) <= set(frame.columns)
            assert (frame["farm_id"] == folder.name).all()
            n_rows += len(frame)
            n_files += 1
    assert (n_rows, n_files) == (info.n_sensor_rows, info.n_files)


def test_readings_cover_lead_month_through_harvest(clean: Generated) -> None:
    zones = _timezones(clean.root)
    for farm_id, rows in _harvests(clean.root).groupby("farm_id"):
        times = _readings(clean.root, farm_id, zones[farm_id])["utc"]
        assert times.is_unique
        for row in rows.itertuples():
            start = pd.Timestamp(row.planting_date, tz="UTC") - pd.Timedelta(days=LEAD_DAYS)
            end = pd.Timestamp(row.harvest_date, tz="UTC")
            expected = pd.date_range(start, end, freq="h", inclusive="left")
            missing = expected.difference(pd.DatetimeIndex(times))
            assert len(missing) == 0, f"{farm_id} {row.season}: {len(missing)} hours missing"


def test_growing_windows_keep_good_coverage_with_faults(faulty: Generated) -> None:
    zones = _timezones(faulty.root)
    for farm_id, rows in _harvests(faulty.root).groupby("farm_id"):
        readings = _readings(faulty.root, farm_id, zones[farm_id])
        hours = pd.DatetimeIndex(readings.loc[readings["air_temp_c"].notna(), "utc"]).floor("h")
        for row in rows.itertuples():
            window = pd.date_range(
                pd.Timestamp(row.planting_date, tz="UTC"),
                pd.Timestamp(row.harvest_date, tz="UTC"),
                freq="h",
                inclusive="left",
            )
            assert window.isin(hours).mean() > 0.85


def test_faults_are_present_and_counted(faulty: Generated) -> None:
    root, faults = faulty.root, faulty.info.faults
    assert min(vars(faults).values()) > 0, faults
    sentinels = empty = out_of_range = shuffled = reexports = duplicates = gaps = gap_rows = 0
    zones = _timezones(root)
    for folder in sorted((root / "sensors").iterdir()):
        month_lines: set[str] = set()
        for path in _sensor_files(root, folder.name, reexports=False):
            frame = pd.read_csv(path, dtype={"timestamp": str})
            values = frame[list(SENSOR_VALUE_COLUMNS)]
            is_sentinel = values.isin(LOGGER_SENTINELS)
            sentinels += int(is_sentinel.to_numpy().sum() + values.isna().to_numpy().sum())
            empty += int(values.isna().to_numpy().sum())
            for column, (low, high) in SENSOR_RANGES.items():
                real = values[column].where(~is_sentinel[column])
                out_of_range += int(((real < low) | (real > high)).sum())
            shuffled += not frame["timestamp"].is_monotonic_increasing
            month_lines.update(path.read_text().splitlines()[1:])
        for path in (root / "sensors" / folder.name).glob("*-reexport.csv"):
            lines = path.read_text().splitlines()[1:]
            assert (root / "sensors" / folder.name / path.name.replace("-reexport", "")).exists()
            assert set(lines) <= month_lines, "re-exported rows are exact copies"
            reexports += 1
            duplicates += len(lines)
        times = _readings(root, folder.name, zones[folder.name])["utc"]
        step = times.diff().dropna()
        offline = step[(step > pd.Timedelta(hours=1)) & (step < pd.Timedelta(days=6))]
        gaps += len(offline)
        gap_rows += int((offline / pd.Timedelta(hours=1)).sum() - len(offline))
    assert sentinels == faults.sentinel_values and empty == faults.empty_values
    assert out_of_range == faults.out_of_range_values
    assert shuffled == faults.shuffled_files
    assert (reexports, duplicates) == (faults.reexport_files, faults.duplicate_rows)
    assert (gaps, gap_rows) == (faults.gaps, faults.gap_rows_removed)
    n_values = (faulty.info.n_sensor_rows - faults.duplicate_rows) * len(SENSOR_VALUE_COLUMNS)
    assert 0.001 < faults.sentinel_values / n_values < 0.004


def test_no_faults_when_disabled(clean: Generated) -> None:
    root = clean.root
    assert set(vars(clean.info.faults).values()) == {0}
    assert not list(root.glob("sensors/*/*-reexport.csv"))
    for path in root.glob("sensors/*/*.csv"):
        frame = pd.read_csv(path, dtype={"timestamp": str})
        assert frame["timestamp"].is_monotonic_increasing
        values = frame[list(SENSOR_VALUE_COLUMNS)]
        assert not values.isna().to_numpy().any()
        for column, (low, high) in SENSOR_RANGES.items():
            assert values[column].between(low, high).all(), (path, column)


def test_weather_is_plausible(clean: Generated) -> None:
    frame = pd.concat(pd.read_csv(p) for p in clean.root.glob("sensors/*/*.csv"))
    assert (frame["rainfall_mm"] == 0).mean() > 0.8, "rain comes in bursts"
    assert frame["rainfall_mm"].max() > 2
    assert frame["air_temp_c"].corr(frame["relative_humidity_pct"]) < -0.2
    assert (frame["solar_radiation_wm2"] == 0).mean() > 0.3, "nights are dark"
    assert frame["solar_radiation_wm2"].max() > 700
    assert frame["air_temp_c"].std() > 4


def test_harvest_yields_follow_drivers_measured_from_the_files(clean: Generated) -> None:
    root, info = clean.root, clean.info
    drivers = {(d.farm_id, d.season): d for d in info.season_drivers}
    zones = _timezones(root)
    harvests = _harvests(root)
    for row in harvests.itertuples():
        truth = drivers[(row.farm_id, row.season)]
        expected = yield_model(
            truth.crop,
            truth.gdd,
            truth.water_stress,
            truth.heat_stress_days,
            truth.soil_factor,
            truth.farm_factor,
            truth.noise_factor,
        )
        assert row.yield_t_ha == pytest.approx(float(expected), abs=0.011)
        # The temperature drivers are recomputable from the written readings, by local day.
        readings = _readings(root, row.farm_id, zones[row.farm_id])
        local = readings["utc"].dt.tz_convert(zones[row.farm_id] or "UTC").dt.tz_localize(None)
        day = local.dt.normalize()
        window = readings[(day >= row.planting_date) & (day < row.harvest_date)]
        daily = window.groupby(day[window.index])["air_temp_c"].agg(["min", "max"])
        t_mean = (daily["min"] + daily["max"]) / 2
        gdd = (t_mean - CROP_GDD_BASE_C[row.crop]).clip(lower=0).sum()
        assert gdd == pytest.approx(truth.gdd, rel=0.002)
        heat = int((daily["max"] > CROP_HEAT_STRESS_C[row.crop]).sum())
        assert abs(heat - truth.heat_stress_days) <= 1
        assert window["rainfall_mm"].sum() == pytest.approx(truth.rain_mm, abs=1.0)


def test_yield_model_responds_to_stress() -> None:
    stress = np.linspace(0, 1, 11)
    for crop in ("Maize", "Soybean", "Wheat", "Potato"):
        by_water = yield_model(crop, 1400.0, stress, 0)
        assert (np.diff(by_water) < 0).all(), crop
        by_heat = yield_model(crop, 1400.0, 0.1, np.arange(0, 40, 5))
        assert (np.diff(by_heat) < 0).all(), crop
        by_gdd = yield_model(crop, CROP_GDD_REQUIRED[crop] * np.linspace(0.35, 1, 7), 0.1, 0)
        assert (np.diff(by_gdd) > 0).all(), crop
        extremes = yield_model(crop, np.array([1.0, 5000.0]), 1.0, 200, 1.2, 1.5, 2.0)
        assert ((extremes > 0) & (extremes < 100)).all()
    best = {c: float(yield_model(c, 1e4 / 8, 0.0, 0)) for c in ("Maize", "Wheat", "Potato")}
    assert (
        best["Potato"] > best["Maize"] > best["Wheat"] > float(yield_model("Soybean", 1250, 0, 0))
    )


def test_drivers_differ_between_farm_seasons(faulty: Generated) -> None:
    drivers = faulty.info.season_drivers
    assert len({round(d.gdd) for d in drivers}) == len(drivers)
    assert len({d.water_stress for d in drivers}) > 1
    assert np.std([d.rain_mm for d in drivers]) > 20


def test_unharvested_seasons_go_to_planned_seasons(tmp_path: Path) -> None:
    info = generate_dataset(tmp_path / "d", farms=2, seasons=3, unharvested_seasons=1, seed=3)
    assert info.harvested_seasons == (2022, 2023) and info.planned_seasons == (2024,)
    harvests = _harvests(info.out_dir)
    assert set(harvests["season"]) == {2022, 2023} and info.n_harvests == 4
    planned = pd.read_csv(info.out_dir / PLANNED_SEASONS_FILE)
    assert list(planned.columns) == ["farm_id", "season", "crop", "planting_date", "harvest_date"]
    assert list(planned["season"]) == [2024, 2024]
    zones = _timezones(info.out_dir)
    for row in planned.itertuples():
        times = _readings(info.out_dir, row.farm_id, zones[row.farm_id])["utc"]
        assert times.max() >= pd.Timestamp(row.harvest_date, tz="UTC") - pd.Timedelta(hours=1)
        assert times.min() <= pd.Timestamp(row.planting_date, tz="UTC") - pd.Timedelta(days=30)
    truth = [d for d in info.season_drivers if d.season == 2024]
    assert len(truth) == 2 and not any(d.harvested for d in truth)
    assert not (tmp_path / "none").exists()
    plain = generate_dataset(tmp_path / "none", farms=1, seasons=1, seed=3)
    assert not (plain.out_dir / PLANNED_SEASONS_FILE).exists()


def test_sub_hourly_interval(tmp_path: Path) -> None:
    info = generate_dataset(tmp_path / "q", farms=1, seasons=1, interval_minutes=15, faults=False)
    frame = pd.concat(pd.read_csv(p) for p in info.out_dir.glob("sensors/F01/*.csv"))
    stamps = pd.to_datetime(frame["timestamp"], format="ISO8601").sort_values()
    assert stamps.diff().dropna().mode()[0] == pd.Timedelta(minutes=15)
    assert info.n_sensor_rows == len(frame)


def test_bad_arguments_and_existing_dataset(faulty: Generated, tmp_path: Path) -> None:
    for bad in (
        {"farms": 0},
        {"seasons": 0},
        {"interval_minutes": 7},
        {"seasons": 2, "unharvested_seasons": 3},
    ):
        with pytest.raises(ValueError):
            generate_dataset(tmp_path / "bad", **bad)
    target = tmp_path / "twice"
    generate_dataset(target, farms=1, seasons=1)
    with pytest.raises(FileExistsError):
        generate_dataset(target, farms=1, seasons=1)
    generate_dataset(target, farms=1, seasons=1, seed=5, overwrite=True)
    assert len(_harvests(target)) == 1


def test_repeated_autumn_hour_is_written_once() -> None:
    utc = pd.date_range("2023-10-28 23:00", periods=4, freq="h", tz="UTC")
    local = utc.tz_convert("Europe/Paris").tz_localize(None).to_numpy()
    assert list(first_wall_clock_occurrence(local)) == [True, True, False, True]
