"""Physically plausible readings for one farm-season, in UTC and as the logger writes them.

Everything is vectorised over readings; the only loop runs over days (the soil bucket).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from yieldflow.synthetic.population import SEASON_WEATHER, STREAM_SEASON, Farm, Plan, stream
from yieldflow.synthetic.truth import STRESS_THRESHOLD, SeasonDrivers, season_drivers

LEAD_DAYS = 30  # readings start this many days before planting

_MARGIN_DAYS = 1  # and one more day either side, so any timezone reading still covers it

# Decimal places written per sensor column (loggers round; keeps files small).
DECIMALS: dict[str, int] = {
    "air_temp_c": 2,
    "rainfall_mm": 2,
    "relative_humidity_pct": 1,
    "soil_moisture_pct": 2,
    "soil_temp_c": 2,
    "solar_radiation_wm2": 1,
    "wind_speed_ms": 2,
}


def _red_noise(rng: np.random.Generator, n: int, sd: float, tau_steps: float) -> np.ndarray:
    """Stationary AR(1) noise with standard deviation sd and e-folding time tau_steps."""
    alpha = min(1.0, 1.0 / max(tau_steps, 1.0))
    shocks = rng.standard_normal(n) * sd * np.sqrt((2.0 - alpha) / alpha)
    shocks[0] = rng.standard_normal() * sd
    return pd.Series(shocks).ewm(alpha=alpha, adjust=False).mean().to_numpy()


def _smooth(values: np.ndarray, tau_steps: float) -> np.ndarray:
    alpha = min(1.0, 1.0 / max(tau_steps, 1.0))
    return pd.Series(values).ewm(alpha=alpha, adjust=False).mean().to_numpy()


def simulate_farm(
    seed: int, farm: Farm, plans: list[Plan], interval_minutes: int
) -> tuple[pd.DataFrame, list[SeasonDrivers], int]:
    """All seasons of one farm: the clean readings table (with written timestamps)."""
    parts: list[dict[str, np.ndarray]] = []
    drivers: list[SeasonDrivers] = []
    dropped = 0
    for plan in plans:
        rng = stream(seed, farm.index, STREAM_SEASON, plan.season, SEASON_WEATHER)
        utc, values, stress = _simulate_weather(rng, farm, plan, interval_minutes)
        local = _local_naive(utc, farm.timezone)
        keep = first_wall_clock_occurrence(local)
        dropped += int((~keep).sum())
        local, values, stress = local[keep], {c: v[keep] for c, v in values.items()}, stress[keep]
        drivers.append(season_drivers(seed, farm, plan, local, values, stress))
        values = {c: np.round(v, DECIMALS[c]) for c, v in values.items()}
        parts.append({"local": local, "season": np.full(len(local), plan.season), **values})
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    frame = pd.DataFrame(merged)
    if farm.timezone:
        text = np.datetime_as_string(frame["local"].to_numpy("datetime64[s]"), unit="s")
    else:
        text = np.datetime_as_string(
            frame["local"].to_numpy("datetime64[s]"), unit="s", timezone="UTC"
        )
    frame.insert(0, "timestamp", text.astype(object))
    frame.insert(0, "farm_id", farm.farm_id)
    return frame, drivers, dropped


def _local_naive(utc: np.ndarray, timezone: str | None) -> np.ndarray:
    """Wall-clock time the logger writes: local for farms with a timezone, else UTC."""
    if not timezone:
        return utc
    index = pd.DatetimeIndex(utc).tz_localize("UTC").tz_convert(timezone).tz_localize(None)
    return index.to_numpy().astype("datetime64[s]")


def first_wall_clock_occurrence(local: np.ndarray) -> np.ndarray:
    """Mask keeping each naive local time once, in order.

    When daylight saving ends the same wall-clock hour happens twice; a logger on local
    time cannot tell the two apart, so only the first (DST) occurrence is written. (The
    built-in crop calendars end before the autumn change, so today it never triggers.)
    """
    keep = np.ones(len(local), dtype=bool)
    if len(local) > 1:
        keep[1:] = local[1:] > np.maximum.accumulate(local)[:-1]
    return keep


def _simulate_weather(
    rng: np.random.Generator, farm: Farm, plan: Plan, interval_minutes: int
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Readings from LEAD_DAYS (+1) before planting to the day after harvest, in UTC.

    Returns the UTC times, the seven sensor columns and the water-stress index per reading.
    """
    region, soil = farm.region, farm.soil
    steps_per_day = 1440 // interval_minutes
    dt_h = interval_minutes / 60.0
    per_hour = 1.0 / dt_h
    start = plan.planting - timedelta(days=LEAD_DAYS + _MARGIN_DAYS)
    n_days = (plan.harvest - start).days + _MARGIN_DAYS
    n = n_days * steps_per_day
    utc = np.datetime64(start.isoformat(), "s") + np.arange(n) * np.timedelta64(
        interval_minutes * 60, "s"
    )
    epoch_days = (utc - np.datetime64("1970-01-01", "s")).astype(np.int64) / 86400.0
    solar_days = epoch_days + farm.longitude / 360.0
    solar_hour = (solar_days % 1.0) * 24.0
    year_phase = 2.0 * np.pi / 365.2422
    lat = np.radians(farm.latitude)
    plant_day = LEAD_DAYS + _MARGIN_DAYS
    season_days = (plan.harvest - plan.planting).days
    day_of_step = np.repeat(np.arange(n_days), steps_per_day)

    # This farm-season's character: warmer/cooler, wetter/drier, maybe a drought or heat wave.
    temp_anomaly = rng.normal(0.0, 1.4)
    wet_anomaly = rng.normal(0.0, 0.45)
    drought = np.zeros(n_days, dtype=bool)
    if rng.random() < 0.4:
        length = int(rng.integers(20, 46))
        begin = plant_day + int(rng.integers(0, max(1, season_days - length)))
        drought[begin : begin + length] = True
    heatwave = np.zeros(n)
    if rng.random() < 0.35:
        length = int(rng.integers(5, 13)) * steps_per_day
        begin = plant_day * steps_per_day + int(rng.integers(0, max(1, n - length - plant_day)))
        heatwave[begin : begin + length] = rng.uniform(3.0, 6.0)
        heatwave = _smooth(heatwave, 18 * per_hour)

    # Rain: storms arrive as a Poisson process (fewer in a drought), last hours, and spread
    # their depth unevenly over their steps; most steps stay dry.
    mean_storm_mm = 9.0
    rate = 1.15 * region.rain_mm_year / 365.0 / mean_storm_mm * np.exp(wet_anomaly)
    n_storms = int(rng.poisson(rate * n_days))
    first = rng.integers(0, n, n_storms)
    survives = ~drought[first // steps_per_day] | (rng.random(n_storms) < 0.12)
    first = first[survives]
    n_storms = len(first)
    hours = np.minimum(1 + rng.geometric(0.25, n_storms), 24)
    length = np.maximum(1, np.round(hours * per_hour)).astype(np.int64)
    depth = rng.gamma(0.8, mean_storm_mm / 0.8, n_storms)
    storm = np.repeat(np.arange(n_storms), length)
    offset = np.arange(len(storm)) - np.repeat(np.cumsum(length) - length, length)
    step = first[storm] + offset
    weight = rng.exponential(1.0, len(storm))
    share = weight / np.bincount(storm, weight, minlength=n_storms)[storm]
    inside = step < n
    rain = np.bincount(step[inside], (depth[storm] * share)[inside], minlength=n)
    rain = np.minimum(rain, 150.0)
    rain_day = rain.reshape(n_days, steps_per_day).sum(axis=1)

    # Cloudiness per day (1 = clear): rainy days are dull, droughts are bright.
    clear = np.clip(
        0.75 - 0.06 * wet_anomaly + 0.12 * rng.standard_normal(n_days)
        - 0.35 * np.minimum(rain_day / 8.0, 1.0) + 0.1 * drought,
        0.1, 1.0,
    )  # fmt: skip
    clear_step = clear[day_of_step]

    # Radiation from the sun's elevation at local solar time.
    declination = np.radians(23.44) * np.sin(year_phase * (epoch_days - 79.0))
    hour_angle = np.radians(15.0 * (solar_hour - 12.0))
    sin_elev = np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(
        hour_angle
    )
    flicker = np.clip(clear_step + 0.12 * (1.1 - clear_step) * rng.standard_normal(n), 0.05, 1.05)
    radiation = 1000.0 * np.clip(sin_elev, 0.0, None) ** 1.15 * flicker

    # Air temperature: climate by latitude and day of year, season anomaly, weather systems
    # lasting days, a heat wave, cloud and rain cooling, and a day/night cycle.
    peak_day = 19.0 if region.southern else 200.0  # days after 1 Jan of the warmest day
    centre_lat = abs(sum(region.lat) / 2)
    climate = (
        region.t_mean
        - 0.6 * (abs(farm.latitude) - centre_lat)
        + region.t_amp * np.cos(year_phase * (epoch_days - peak_day))
    )
    synoptic = _red_noise(rng, n, 2.6, 60 * per_hour)
    daily_shape = np.cos(2 * np.pi * (solar_hour - 15.0) / 24.0)
    air = (
        climate
        + temp_anomaly
        + synoptic
        + heatwave
        + 1.0 * drought[day_of_step]
        + 2.5 * (clear_step - 0.7)
        + region.diurnal * (0.4 + 0.6 * clear_step) * daily_shape
        + 0.25 * rng.standard_normal(n)
    )

    # Humidity from a slowly varying dew point: anticorrelated with temperature through the
    # day, high during and after rain, low in droughts.
    wet_recent = np.minimum(_smooth((rain > 0).astype(float), 6 * per_hour) * 3.0, 1.0)
    depression = np.clip(
        region.dew_depression - 1.0 * wet_anomaly + 2.0 * drought[day_of_step]
        + _red_noise(rng, n, 1.5, 48 * per_hour),
        0.5, None,
    ) * (1.0 - 0.85 * wet_recent)  # fmt: skip
    dew_point = _smooth(air, 24 * per_hour) - depression
    humidity = np.clip(
        100.0 * np.exp(17.625 * dew_point / (243.04 + dew_point) - 17.625 * air / (243.04 + air)),
        5.0,
        100.0,
    )

    wind = region.wind_ms * np.exp(_red_noise(rng, n, 0.35, 36 * per_hour) - 0.06) * (
        1.0 + 0.3 * np.cos(2 * np.pi * (solar_hour - 14.0) / 24.0)
    ) * rng.gamma(6.0, 1.0 / 6.0, n) + 1.5 * (rain > 0)
    wind = np.clip(wind, 0.0, 35.0)

    soil_temp = _smooth(air, 6 * per_hour) + 0.8 + 0.003 * _smooth(radiation, 3 * per_hour)
    soil_temp = soil_temp + 0.1 * rng.standard_normal(n)

    available, stress = _soil_water(
        rng, farm, rain, radiation, air, steps_per_day, n_days, plant_day, season_days, dt_h,
        wet_anomaly,
    )  # fmt: skip
    moisture = soil.wilting_pct + (soil.field_capacity_pct - soil.wilting_pct) * available
    moisture = np.clip(moisture + 0.15 * rng.standard_normal(n), 1.0, 60.0)

    values = {
        "air_temp_c": air,
        "rainfall_mm": rain,
        "relative_humidity_pct": humidity,
        "soil_moisture_pct": moisture,
        "soil_temp_c": soil_temp,
        "solar_radiation_wm2": radiation,
        "wind_speed_ms": wind,
    }
    return utc, values, stress


def _soil_water(
    rng: np.random.Generator,
    farm: Farm,
    rain: np.ndarray,
    radiation: np.ndarray,
    air: np.ndarray,
    steps_per_day: int,
    n_days: int,
    plant_day: int,
    season_days: int,
    dt_h: float,
    wet_anomaly: float,
) -> tuple[np.ndarray, np.ndarray]:
    """A daily bucket model of plant-available water, spread over the day's readings.

    Rain fills the bucket (heavy rain partly runs off), evapotranspiration from heat and
    sunshine (Hargreaves-like, scaled by a crop coefficient that grows with the canopy)
    empties it and slows as it dries, water above capacity drains, and irrigated farms top
    it up when it falls below 55% after planting. The loop runs over days, not readings.
    Returns available water / capacity and the water-stress index, per reading.
    """
    cap = farm.soil.capacity_mm
    shape = (n_days, steps_per_day)
    rain_2d = rain.reshape(shape)
    rain_day = rain_2d.sum(axis=1)
    infiltration = rain_day - 0.25 * np.maximum(rain_day - 25.0, 0.0)
    rad_mj = radiation.reshape(shape).sum(axis=1) * dt_h * 3600.0 / 1e6
    t_mean = air.reshape(shape).mean(axis=1)
    et0 = np.maximum(0.0135 * (t_mean + 17.8) * rad_mj / 2.45, 0.0)
    days = np.arange(n_days)
    progress = np.clip((days - plant_day) / season_days, 0.0, 1.0)
    kc = np.where(
        days < plant_day,
        0.35,
        np.where(
            progress < 0.75,
            0.35 + 0.75 * np.minimum(progress / 0.4, 1.0),
            1.1 - 0.5 * (progress - 0.75) / 0.25,
        ),
    )
    irrigating = farm.irrigated & (days >= plant_day) & (days < plant_day + season_days - 10)

    start_state = np.empty(n_days)
    gained = np.empty(n_days)
    lost = np.empty(n_days)
    drained = np.empty(n_days)
    state = cap * float(np.clip(0.6 + 0.15 * wet_anomaly + rng.normal(0.0, 0.1), 0.25, 1.0))
    half = 0.5 * cap
    for day, (inflow, demand, irrigate) in enumerate(
        zip(infiltration.tolist(), (et0 * kc).tolist(), irrigating.tolist(), strict=True)
    ):
        if irrigate and state < 0.55 * cap:
            state += min(30.0, cap - state)
        start_state[day] = state
        et = min(demand * min(1.0, state / half), state + inflow)
        after = state + inflow - et
        drain = 0.5 * max(after - cap, 0.0)
        gained[day], lost[day], drained[day] = inflow, et, drain
        state = after - drain

    # Within a day: rain arrives when it falls, ET follows the sun, drainage is steady.
    rain_share = np.cumsum(rain_2d, axis=1) / np.maximum(rain_day, 1e-9)[:, None]
    sun = radiation.reshape(shape) + 1.0
    sun_share = np.cumsum(sun, axis=1) / sun.sum(axis=1)[:, None]
    time_share = np.arange(1, steps_per_day + 1) / steps_per_day
    water = (
        start_state[:, None]
        + gained[:, None] * rain_share
        - lost[:, None] * sun_share
        - drained[:, None] * time_share[None, :]
    )
    available = np.clip(water / cap, 0.0, 1.3).ravel()
    stress = np.clip((STRESS_THRESHOLD - available) / STRESS_THRESHOLD, 0.0, 1.0)
    return available, stress
