"""Benchmark 1: ingestion + season features at 1M/5M/20M rows against one DuckDB query.

Why DuckDB: it is what a data engineer would reach for to compute the same aggregates
straight from the CSV files, so it is a fair "how fast could this be" reference; since
issue 21 yieldflow's ingestion runs on DuckDB too, so the ratio is the contract's price. The
reference skips yieldflow's validation and quarantine (per-cell reason reporting, row
accounting, conflict detection, line numbers); it only nulls the same bad values and drops
exact duplicate rows, which it must do to produce the same numbers. Both sides run in their
own child process, so each peak RSS is clean, and each writes its feature table so the
parent can check that the two agree (a reference that computes something else would make
the ratio meaningless).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import (
    REPO_ROOT,
    Check,
    Dataset,
    DatasetSpec,
    at_most,
    cached_dataset,
    current_rss_bytes,
    interleaved,
    log,
    median,
    run_in_child,
    timed,
    warm_page_cache,
)
from yieldflow.contract import LOGGER_SENTINELS, SENSOR_RANGES
from yieldflow.features.seasons import NUMERIC_FEATURES

MIN_COVERAGE = 0.7  # the pipeline's default (DataConfig.min_coverage)
TIME_RATIO_TARGET = 1.3  # yieldflow within 1.3x the bare DuckDB query's time (issue 21)
MEMORY_RATIO_TARGET = 3.0  # peak memory < 3x the readings' in-memory size
# The two feature tables must agree to rounding (sums in a different order differ by
# ~1e-15); a threshold decided differently (a dry day, a frost day) shows as >= 1e-2.
AGREEMENT_TOLERANCE = 1e-9
# Linear in rows: 20M/5M ≤ 4.5 for 4x the rows, i.e. time ratio ≤ 1.125 × rows ratio.
SCALING_SLACK = 4.5 / 4.0

# ~59k rows per farm over 4 seasons at 15-minute readings (faults included). The 20M
# point is its own benchmark ("features-20m", with 5M again for the scaling ratio), so it
# can be left out (--skip-20m) until its dataset (1.5-15 minutes to generate) exists.
SIZES: dict[str, dict[str, DatasetSpec]] = {
    "full": {"1M": DatasetSpec(farms=17), "5M": DatasetSpec(farms=86)},
    "scale": {"5M": DatasetSpec(farms=86), "20M": DatasetSpec(farms=343)},
    "smoke": {
        "15k": DatasetSpec(farms=1, interval_minutes=60),
        "30k": DatasetSpec(farms=2, interval_minutes=60),
    },
}
REPEATS = {
    "full": {"1M": 3, "5M": 3},
    "scale": {"5M": 2, "20M": 2},
    "smoke": {"15k": 1, "30k": 1},
}
PROFILED_SIZE: dict[str, str | None] = {"full": "1M", "scale": None, "smoke": None}

# Value columns, their contract ranges and the logger sentinels: the contract's own.
_RANGES = SENSOR_RANGES
_SENTINELS = "(" + ", ".join(str(int(v)) for v in LOGGER_SENTINELS) + ")"
# Every numeric feature both sides compute (irrigation is farm metadata, not aggregated).
COMPARED = tuple(name for name in NUMERIC_FEATURES if name != "irrigated")


def duckdb_query(root: str) -> str:
    """The season features as one SQL statement over the dataset's CSV files.

    Same definitions as yieldflow.features.seasons: local calendar days (farm timezone for offset
    timestamps, naive ones are already local), daily min/max/sum/means, GDD over the crop
    base from (min+max)/2, heat/frost days, dry spells of 5 dry days, soil moisture mean/min
    and over the 30 days before planting, radiation in MJ/m², coverage in distinct hours.
    """
    from yieldflow.features.agronomy import (
        CROP_GDD_BASE_C,
        CROP_HEAT_STRESS_C,
        DEFAULT_GDD_BASE_C,
        DEFAULT_HEAT_STRESS_C,
        DRY_DAY_RAIN_MM,
        DRY_SPELL_MIN_DAYS,
        FROST_C,
        LEAD_DAYS,
        W_M2_DAY_TO_MJ_M2,
    )

    def crop_case(table: dict[str, float], default: float) -> str:
        whens = " ".join(f"WHEN '{crop}' THEN {value}" for crop, value in table.items())
        return f"CASE crop {whens} ELSE {default} END"

    types = ", ".join(
        [
            "'farm_id': 'VARCHAR'",
            "'timestamp': 'VARCHAR'",
            *(f"'{c}': 'DOUBLE'" for c in _RANGES),
        ]
    )
    cleaned = ",\n".join(
        f"CASE WHEN {c} IN {_SENTINELS} OR {c} NOT BETWEEN {lo} AND {hi} THEN NULL "
        f"ELSE {c} END AS {c}"
        for c, (lo, hi) in _RANGES.items()
    )
    return f"""
WITH farms AS (
  SELECT farm_id, timezone, soil_type, irrigated
  FROM read_csv('{root}/farms.csv', header = true, all_varchar = true)
),
raw AS (
  SELECT * FROM read_csv('{root}/sensors/*/*.csv', header = true, columns = {{{types}}})
),
distinct_rows AS (SELECT DISTINCT * FROM raw),
clean AS (
  SELECT r.farm_id,
    CASE WHEN regexp_matches(r.timestamp, '(Z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$')
      THEN timezone(coalesce(f.timezone, 'UTC'), CAST(r.timestamp AS TIMESTAMPTZ))
      ELSE CAST(r.timestamp AS TIMESTAMP) END AS local_ts,
    {cleaned}
  FROM distinct_rows r LEFT JOIN farms f USING (farm_id)
),
daily AS (
  SELECT farm_id, CAST(local_ts AS DATE) AS day,
    min(air_temp_c) AS tmin, max(air_temp_c) AS tmax, sum(rainfall_mm) AS rain,
    avg(relative_humidity_pct) AS humidity, avg(soil_moisture_pct) AS soil,
    avg(solar_radiation_wm2) AS radiation, avg(wind_speed_ms) AS wind,
    count(DISTINCT date_trunc('hour', local_ts)) FILTER (WHERE air_temp_c IS NOT NULL)
      AS hours_covered
  FROM clean GROUP BY ALL
),
harvests AS (
  SELECT farm_id, CAST(season AS BIGINT) AS season, crop,
    CAST(planting_date AS DATE) AS planting, CAST(harvest_date AS DATE) AS harvest,
    CAST(yield_t_ha AS DOUBLE) AS yield_t_ha,
    {crop_case(CROP_GDD_BASE_C, DEFAULT_GDD_BASE_C)} AS gdd_base,
    {crop_case(CROP_HEAT_STRESS_C, DEFAULT_HEAT_STRESS_C)} AS heat_c
  FROM read_csv('{root}/harvests.csv', header = true, all_varchar = true)
),
days AS (
  SELECT d.*, h.season, h.planting, h.gdd_base, h.heat_c
  FROM daily d JOIN harvests h USING (farm_id)
  WHERE d.day >= h.planting - INTERVAL {LEAD_DAYS} DAY AND d.day < h.harvest
),
win AS (
  SELECT *, coalesce(rain < {DRY_DAY_RAIN_MM}, false) AS dry,
    coalesce(lag(rain < {DRY_DAY_RAIN_MM}) OVER w, false) AS prev_dry,
    coalesce(day - lag(day) OVER w = 1, false) AS consecutive
  FROM days WHERE day >= planting
  WINDOW w AS (PARTITION BY farm_id, season ORDER BY day)
),
runs AS (
  SELECT *, sum(CAST(NOT (dry AND prev_dry AND consecutive) AS INTEGER))
    OVER (PARTITION BY farm_id, season ORDER BY day) AS run_id
  FROM win
),
spells AS (
  SELECT *, sum(CAST(dry AS INTEGER))
    OVER (PARTITION BY farm_id, season, run_id ORDER BY day) AS run_length
  FROM runs
),
agg AS (
  SELECT farm_id, season,
    coalesce(sum(greatest((tmin + tmax) / 2 - gdd_base, 0)), 0) AS gdd_c_days,
    coalesce(sum(rain), 0) AS rain_mm,
    sum(CAST(run_length = {DRY_SPELL_MIN_DAYS} AND dry AS INTEGER)) AS dry_spells,
    coalesce(sum(CAST(tmax > heat_c AS INTEGER)), 0) AS heat_stress_days,
    coalesce(sum(CAST(tmin < {FROST_C} AS INTEGER)), 0) AS frost_days,
    avg(soil) AS soil_moisture_mean_pct, min(soil) AS soil_moisture_min_pct,
    coalesce(sum(radiation), 0) * {W_M2_DAY_TO_MJ_M2} AS radiation_mj_m2,
    avg(humidity) AS humidity_mean_pct, avg(wind) AS wind_mean_ms,
    sum(hours_covered) AS hours_covered
  FROM spells GROUP BY farm_id, season
),
lead AS (
  SELECT farm_id, season, avg(soil) AS soil_moisture_at_planting_pct
  FROM days WHERE day < planting GROUP BY farm_id, season
)
SELECT h.farm_id, h.season, h.crop, coalesce(f.soil_type, 'unknown') AS soil_type,
  a.* EXCLUDE (farm_id, season, hours_covered), l.soil_moisture_at_planting_pct,
  date_diff('day', h.planting, h.harvest) AS season_length_days,
  CAST(coalesce(lower(f.irrigated) IN ('true', '1', 'yes', 'y', 't'), false) AS DOUBLE)
    AS irrigated,
  least(coalesce(a.hours_covered, 0) / (date_diff('day', h.planting, h.harvest) * 24), 1.0)
    AS sensor_coverage,
  h.yield_t_ha
FROM harvests h
LEFT JOIN agg a USING (farm_id, season)
LEFT JOIN lead l USING (farm_id, season)
LEFT JOIN farms f USING (farm_id)
WHERE least(coalesce(a.hours_covered, 0) / (date_diff('day', h.planting, h.harvest) * 24), 1.0)
  >= {MIN_COVERAGE}
ORDER BY h.farm_id, h.season
"""


def run_duckdb(root: str, out: str) -> dict[str, Any]:
    """Child-process side: the whole aggregation as one DuckDB query (all cores)."""
    import duckdb

    connection = duckdb.connect()
    seconds, table = timed(lambda: connection.execute(duckdb_query(root)).df())
    threads = connection.execute("SELECT current_setting('threads')").fetchone()[0]
    table.to_parquet(out, index=False)
    return {"seconds": seconds, "harvests": len(table), "threads": int(threads)}


def run_yieldflow(root: str, out: str, profile: bool = False) -> dict[str, Any]:
    """Child-process side: yieldflow's ingestion (with validation) then its features."""
    from yieldflow.features.seasons import build_season_features
    from yieldflow.ingest.dataset import ingest_dataset
    from yieldflow.io.local import LocalSource

    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    ingest_s, result = timed(lambda: ingest_dataset(LocalSource(root)))
    features_s, features = timed(
        lambda: build_season_features(result.readings, result.harvests, result.farms, MIN_COVERAGE)
    )
    if profiler:
        profiler.disable()
    features.table.to_parquet(out, index=False)
    value: dict[str, Any] = {
        "seconds": ingest_s + features_s,
        "ingest_seconds": ingest_s,
        "features_seconds": features_s,
        "rows_read": result.accounting.rows_read,
        "rows_accepted": result.accounting.rows_accepted,
        "readings_bytes": int(result.readings.memory_usage(deep=True).sum()),
        "harvests": len(features.table),
    }
    if profiler:
        value["profile"] = top_functions(profiler, ingest_s + features_s)
    return value


STAGES = (
    ("yieldflow.ingest.dataset", "open_sensors"),
    ("yieldflow.ingest.sensor_query", "_stream_checks"),
    ("yieldflow.ingest.sensor_query", "_conflict_stamps"),
    ("yieldflow.ingest.sensor_query", "_readings"),
    ("yieldflow.features.seasons", "daily_weather"),
    ("yieldflow.features.seasons", "season_features"),
)


def run_yieldflow_stages(root: str, interval_s: float = 0.05) -> dict[str, Any]:
    """Child-process diagnostic: seconds and peak RSS of each stage of yieldflow's run.

    Wraps the stage functions (in this child only) and samples RSS from a thread, so a
    memory peak can be pinned to the stage that makes it. What no stage covers is reading
    farms.csv and harvests.csv, and finding duplicates.
    """
    import importlib
    import threading
    import time

    from yieldflow.features.seasons import build_season_features
    from yieldflow.ingest.dataset import ingest_dataset
    from yieldflow.io.local import LocalSource

    samples: list[tuple[float, int]] = []
    marks: list[tuple[str, float, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.perf_counter(), current_rss_bytes()))
            time.sleep(interval_s)

    def wrap(module: Any, name: str) -> None:
        original = getattr(module, name)

        def timed_stage(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                marks.append((name, started, time.perf_counter()))

        setattr(module, name, timed_stage)

    for module_name, name in STAGES:
        wrap(importlib.import_module(module_name), name)
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    started = time.perf_counter()
    result = ingest_dataset(LocalSource(root))
    build_season_features(result.readings, result.harvests, result.farms, MIN_COVERAGE)
    finished = time.perf_counter()
    done.set()
    thread.join()
    marks.sort(key=lambda m: m[1])
    # A stage may run more than once: sum its time and keep its highest RSS.
    out: dict[str, dict[str, Any]] = {}
    for name, begin, end in marks:
        inside = [rss for t, rss in samples if begin <= t <= end] or [0]
        stage = out.setdefault(name, {"stage": name, "seconds": 0.0, "peak_rss": 0, "calls": 0})
        stage["seconds"] += end - begin
        stage["peak_rss"] = max(stage["peak_rss"], max(inside))
        stage["calls"] += 1
    covered = [(b, e) for _, b, e in marks]
    rest = [rss for t, rss in samples if not any(b <= t <= e for b, e in covered)] or [0]
    other = {
        "stage": "farms and harvests, duplicates",
        "seconds": (finished - started) - sum(s["seconds"] for s in out.values()),
        "peak_rss": max(rest),
        "calls": 1,
    }
    return {
        "stages": [other, *out.values()],
        "seconds": finished - started,
        "readings_bytes": int(result.readings.memory_usage(deep=True).sum()),
    }


def top_functions(profiler: cProfile.Profile, total: float, n: int = 12) -> list[dict]:
    """The functions with the most cumulative time, as shares of the whole call."""
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    root = f"{REPO_ROOT}/"
    for (filename, line, name), (_, calls, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "site-packages" in filename or filename[:1] in "<~" or "benchmarks" in filename:
            continue  # yieldflow's own functions: the ones the lead can change
        where = filename.removeprefix(root)  # repo-relative, wherever the checkout is
        rows.append(
            {
                "function": f"{where}:{line}({name})",
                "calls": calls,
                "seconds": cumulative,
                "share": cumulative / total if total else 0.0,
            }
        )
    rows.sort(key=lambda r: -r["seconds"])
    library = []
    for (filename, line, name), (_, calls, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        library.append(
            {
                "function": f"{Path(filename).name}:{line}({name})",
                "calls": calls,
                "seconds": tottime,
                "share": tottime / total if total else 0.0,
            }
        )
    library.sort(key=lambda r: -r["seconds"])
    return [*rows[:n], *[dict(r, self_time=True) for r in library[:8]]]


def compare_tables(yieldflow_path: Path, duckdb_path: Path) -> dict[str, Any]:
    """How far apart the two feature tables are (they must agree for the ratio to count)."""
    import numpy as np
    import pandas as pd

    ours = pd.read_parquet(yieldflow_path).set_index(["farm_id", "season"]).sort_index()
    ref = pd.read_parquet(duckdb_path).set_index(["farm_id", "season"]).sort_index()
    common = ours.index.intersection(ref.index)
    worst, column = 0.0, ""
    for name in COMPARED:
        a = ours.loc[common, name].astype(float).to_numpy()
        b = ref.loc[common, name].astype(float).to_numpy()
        scale = np.maximum(np.abs(a), 1.0)
        diff = np.nanmax(np.abs(a - b) / scale, initial=0.0)
        if np.isnan(a).sum() != np.isnan(b).sum():
            diff = float("inf")
        if diff > worst:
            worst, column = float(diff), name
    return {
        "harvests_yieldflow": len(ours),
        "harvests_duckdb": len(ref),
        "harvests_in_both": len(common),
        "max_relative_difference": worst,
        "worst_column": column,
    }


def _measure_size(label: str, dataset: Dataset, repeats: int, profile: bool) -> dict[str, Any]:
    warm_page_cache(dataset.root)
    with tempfile.TemporaryDirectory(prefix="yieldflow-bench-features-") as tmp:
        outputs = {"yieldflow": Path(tmp) / "yieldflow.parquet", "duckdb": Path(tmp) / "duck.pq"}

        def side(name: str) -> Any:
            target = f"benchmarks.features:run_{name}"

            def run() -> dict[str, Any]:
                child = run_in_child(target, {"root": str(dataset.root), "out": str(outputs[name])})
                log(f"features {label} {name}: {child.value['seconds']:.2f} s")
                return {
                    **child.value,
                    "peak_rss": child.peak_rss_bytes,
                    "baseline_rss": child.baseline_rss_bytes,
                }

            return run

        runs = interleaved({"yieldflow": side("yieldflow"), "duckdb": side("duckdb")}, repeats)
        agreement = compare_tables(outputs["yieldflow"], outputs["duckdb"])
        profile_rows = None
        if profile:
            child = run_in_child(
                "benchmarks.features:run_yieldflow",
                {"root": str(dataset.root), "out": str(outputs["yieldflow"]), "profile": True},
            )
            profile_rows = child.value["profile"]
    ours, ref = runs["yieldflow"], runs["duckdb"]
    readings_bytes = ours[0]["readings_bytes"]
    peak_net = median(r["peak_rss"] - r["baseline_rss"] for r in ours)
    return {
        "size": label,
        "rows": dataset.rows,
        "files": dataset.files,
        "csv_bytes": dataset.csv_bytes,
        "farms": dataset.spec.farms,
        "interval_minutes": dataset.spec.interval_minutes,
        "repeats": repeats,
        "yieldflow_s": median(r["seconds"] for r in ours),
        "yieldflow_ingest_s": median(r["ingest_seconds"] for r in ours),
        "yieldflow_features_s": median(r["features_seconds"] for r in ours),
        "duckdb_s": median(r["seconds"] for r in ref),
        "duckdb_threads": ref[0]["threads"],
        "yieldflow_times": [r["seconds"] for r in ours],
        "duckdb_times": [r["seconds"] for r in ref],
        "readings_bytes": readings_bytes,
        "yieldflow_peak_rss": median(r["peak_rss"] for r in ours),
        "yieldflow_peak_net": peak_net,
        "yieldflow_baseline_rss": median(r["baseline_rss"] for r in ours),
        "duckdb_peak_rss": median(r["peak_rss"] for r in ref),
        "agreement": agreement,
        "profile": profile_rows,
    }


def run(size: str) -> dict[str, Any]:
    """Every dataset size of this benchmark; returns the measurements and the checks."""
    return _run_sizes(size, "features")


def run_scale(size: str) -> dict[str, Any]:
    """The 20M point and 5M beside it (smoke: the smoke sizes, so CI can exercise it)."""
    return _run_sizes("scale" if size == "full" else size, "features-20m")


def _run_sizes(size: str, name: str) -> dict[str, Any]:
    measured = []
    for label, spec in SIZES[size].items():
        dataset = cached_dataset(spec)
        log(
            f"features {label}: {dataset.rows:,} rows in {dataset.files} files "
            f"({'cached' if dataset.cached else f'generated in {dataset.generate_seconds} s'})"
        )
        profile = label == PROFILED_SIZE[size]
        measured.append(_measure_size(label, dataset, REPEATS[size][label], profile))
    return {"sizes": measured, "checks": [c.as_dict() for c in checks(measured, name)]}


def checks(measured: list[dict[str, Any]], name: str = "features") -> list[Check]:
    found = []
    for m in measured:
        ratio = m["yieldflow_s"] / m["duckdb_s"]
        found.append(
            at_most(
                name,
                m["size"],
                "time yieldflow / DuckDB",
                ratio,
                TIME_RATIO_TARGET,
                f"{m['yieldflow_s']:.2f} s vs {m['duckdb_s']:.2f} s",
            )
        )
        agree = m["agreement"]
        found.append(  # a speed-up that changes the features is a bug, not a result
            at_most(
                name,
                m["size"],
                "features vs DuckDB's: max relative difference",
                agree["max_relative_difference"],
                AGREEMENT_TOLERANCE,
                f"{agree['harvests_in_both']}/{agree['harvests_yieldflow']} harvests in both, "
                f"worst column {agree['worst_column']}",
            )
        )
        memory = m["yieldflow_peak_net"] / m["readings_bytes"]
        found.append(
            at_most(
                name,
                m["size"],
                "peak RSS (net of imports) / readings in memory",
                memory,
                MEMORY_RATIO_TARGET,
                f"{m['yieldflow_peak_net'] / 2**20:,.0f} MiB vs "
                f"{m['readings_bytes'] / 2**20:,.0f} MiB",
            )
        )
    if len(measured) >= 2:
        big, mid = measured[-1], measured[-2]
        rows_ratio = big["rows"] / mid["rows"]
        found.append(
            at_most(
                name,
                f"{big['size']}/{mid['size']}",
                "yieldflow time ratio (linear in rows)",
                big["yieldflow_s"] / mid["yieldflow_s"],
                round(SCALING_SLACK * rows_ratio, 2),
                f"rows ratio {rows_ratio:.2f}; DuckDB's time ratio "
                f"{big['duckdb_s'] / mid['duckdb_s']:.2f}",
            )
        )
    return found
