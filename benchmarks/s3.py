"""Benchmark 2: ingestion from S3 (SeaweedFS) against DuckDB's own S3 read of the objects.

Why: a farm business exports either many small files (one per logger and day) or a few
large ones; per-object latency dominates the first and bandwidth the second. yieldflow's
`ingest_dataset(S3Source(...))` lists, downloads (16 boto3 threads), then checks every
contract rule in DuckDB; the reference is DuckDB reading the same objects itself (httpfs,
offline build from duckdb-ext-httpfs) with the same typing, the sentinel and range nulls
and the exact duplicates dropped, into sorted readings: what choosing DuckDB's S3 reader
over the boto3 fetch would give at best. Beside them, for attribution: a plain 16-thread
boto3 download, yieldflow's listing and fetch alone, and the download with a bare Arrow
parse of each object.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import (
    Check,
    DatasetSpec,
    at_least,
    cached_dataset,
    interleaved,
    log,
    median,
    run_in_child,
    timed,
)

TARGET = 1.0  # yieldflow ingestion at least as fast as DuckDB's own S3 read
THREADS = 16  # S3Source's default max_workers, and the reference's thread count
BUCKET = "yieldflow-bench"
# 8 farms at 15 minutes: ~470k rows, ~5,000 day objects (~2 minutes of uploads and runs
# per repeat here; the 1M-row dataset's 10,500 objects cost twice that for the same rate).
SIZES = {"full": DatasetSpec(farms=8), "smoke": DatasetSpec(farms=1, interval_minutes=60)}
REPEATS = {"full": 3, "smoke": 1}
WITH_FETCH_ONLY = {"full": True, "smoke": False}  # the breakdown side; CI needs no breakdown


def layouts(root: Path) -> dict[str, dict[str, bytes]]:
    """The dataset as objects two ways: one per farm and day, and one per farm.

    Both keep farms.csv and harvests.csv and follow the data contract (any split of the
    sensor files is allowed), so yieldflow ingests either without complaint.
    """
    small: dict[str, bytes] = {}
    large: dict[str, bytes] = {}
    common = {name: (root / name).read_bytes() for name in ("farms.csv", "harvests.csv")}
    for farm_dir in sorted((root / "sensors").iterdir()):
        header, farm_lines = b"", []
        for path in sorted(farm_dir.glob("*.csv")):
            lines = path.read_bytes().splitlines(keepends=True)
            header, body = lines[0], lines[1:]
            farm_lines += body
            by_day: dict[bytes, list[bytes]] = defaultdict(list)
            for line in body:
                by_day[line.split(b",", 2)[1][:10]].append(line)
            suffix = "-reexport" if "reexport" in path.stem else ""
            for day, day_lines in by_day.items():
                key = f"sensors/{farm_dir.name}/{day.decode()}{suffix}.csv"
                n = 1
                while key in small:  # the same day in two files of the same kind
                    key = f"sensors/{farm_dir.name}/{day.decode()}{suffix}-{n}.csv"
                    n += 1
                small[key] = header + b"".join(day_lines)
        large[f"sensors/{farm_dir.name}/all.csv"] = header + b"".join(farm_lines)
    return {"small objects": {**common, **small}, "large objects": {**common, **large}}


def upload(client: Any, prefix: str, objects: dict[str, bytes]) -> None:
    def put(item: tuple[str, bytes]) -> None:
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{item[0]}", Body=item[1])

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(put, objects.items()))


def run_yieldflow(uri: str) -> dict[str, Any]:
    """Child side: the whole of yieldflow's ingestion from S3 (list, fetch, parse, validate)."""
    from yieldflow.ingest.dataset import ingest_dataset
    from yieldflow.io.s3 import S3Source, s3_client

    s3_client.cache_clear()
    seconds, result = timed(lambda: ingest_dataset(S3Source(uri)))
    return {"seconds": seconds, "rows_read": result.accounting.rows_read}


def run_yieldflow_fetch(uri: str) -> dict[str, Any]:
    """Child side: only yieldflow's listing and concurrent fetch (no parsing)."""
    from yieldflow.io.s3 import S3Source, s3_client
    from yieldflow.io.storage import read_files

    s3_client.cache_clear()

    def fetch() -> tuple[int, int]:
        source = S3Source(uri)
        total = count = 0
        for _, data in read_files(source, source.list_files()):
            if isinstance(data, BaseException):
                raise data
            total += len(data)
            count += 1
        return total, count

    seconds, (total, count) = timed(fetch)
    return {"seconds": seconds, "bytes": total, "objects": count}


def run_duckdb(uri: str) -> dict[str, Any]:
    """Child side: DuckDB reads the sensor objects from S3 itself, types them (bad cells
    become NULL), nulls sentinels and out-of-range values, drops exact duplicates and
    returns the readings sorted by farm and time (no quarantine, no line numbers)."""
    import importlib.util
    from urllib.parse import urlsplit

    import duckdb

    from yieldflow.contract import LOGGER_SENTINELS, SENSOR_RANGES

    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("duckdb-ext-httpfs is not installed: pip install -e '.[bench]'")
    extensions = f"{next(iter(spec.submodule_search_locations))}/extensions"
    sentinels = ", ".join(str(v) for v in LOGGER_SENTINELS)
    values = ", ".join(
        f"CASE WHEN v IN ({sentinels}) OR v NOT BETWEEN {lo} AND {hi} THEN NULL ELSE v END".replace(
            "v", f"TRY_CAST({c} AS DOUBLE)"
        )
        + f" AS {c}"
        for c, (lo, hi) in SENSOR_RANGES.items()
    )
    endpoint = urlsplit(os.environ["AWS_ENDPOINT_URL_S3"])

    def read() -> int:
        # Connected inside the timed part, as yieldflow builds its client inside ingestion.
        con = duckdb.connect(
            config={"extension_directory": extensions, "autoinstall_known_extensions": False}
        )
        con.execute("LOAD httpfs")
        con.execute("SET enable_external_file_cache = false")
        con.execute("SET enable_progress_bar = false")
        con.execute(
            "CREATE SECRET (TYPE s3, KEY_ID ?, SECRET ?, ENDPOINT ?, URL_STYLE 'path', "
            "USE_SSL false, REGION 'us-east-1')".replace("?", "'{}'").format(
                os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                endpoint.netloc,
            )
        )  # fmt: skip
        table = con.execute(
            f"""SELECT DISTINCT farm_id, TRY_CAST(timestamp AS TIMESTAMPTZ) AS ts, {values}
                FROM read_csv('{uri}/sensors/*/*.csv', all_varchar = true, union_by_name = true)
                ORDER BY farm_id, ts"""
        ).fetch_arrow_table()
        return table.num_rows

    seconds, rows = timed(read)
    return {"seconds": seconds, "rows": rows}


def run_reference(uri: str) -> dict[str, Any]:
    """Child side: list the prefix and download every object with 16 boto3 threads."""
    return _download_all(uri, lambda body: None)


def run_parse_floor(uri: str) -> dict[str, Any]:
    """Child side: the reference's download, each object parsed on its own by Arrow as it
    arrives (types inferred, nothing checked, nothing converted to pandas). For a few large
    objects, about the least any ingestion that reads the values must do; for many small
    ones a parse per object is slower than
    yieldflow's batched parse, so there it bounds nothing."""
    import io

    import pyarrow.csv as pcsv

    return _download_all(uri, lambda body: pcsv.read_csv(io.BytesIO(body)))


def _download_all(uri: str, consume: Callable[[bytes], object]) -> dict[str, Any]:
    """List the prefix, get every object with THREADS boto3 threads and `consume` each
    body on the thread that fetched it; seconds, bytes and objects."""
    import boto3
    from botocore.config import Config

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")

    def download() -> tuple[int, int]:
        # Built inside the timed part, as yieldflow builds its client inside ingestion.
        client = boto3.client(
            "s3",
            endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
            config=Config(max_pool_connections=THREADS, s3={"addressing_style": "path"}),
        )
        keys = [
            item["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix + "/"
            )
            for item in page.get("Contents", ())
        ]

        def get(key: str) -> int:
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            consume(body)
            return len(body)

        with ThreadPoolExecutor(THREADS) as pool:
            sizes = list(pool.map(get, keys))
        return sum(sizes), len(sizes)

    seconds, (total, count) = timed(download)
    return {"seconds": seconds, "bytes": total, "objects": count}


def run(size: str) -> dict[str, Any]:
    """Start SeaweedFS, upload both layouts, measure, stop the server (always)."""
    from tests.support.servers import SeaweedFS

    dataset = cached_dataset(SIZES[size])
    objects = layouts(dataset.root)
    measured = []
    saved = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    with tempfile.TemporaryDirectory(prefix="yieldflow-bench-s3-") as tmp:
        server = SeaweedFS(Path(tmp))
        server.start()
        try:
            client = server.client(max_pool_connections=THREADS)
            server.create_bucket(BUCKET)
            for k in saved:
                os.environ.pop(k)
            os.environ.update(server.env())
            for index, (layout, items) in enumerate(objects.items()):
                prefix = f"layout-{index}"
                seconds, _ = timed(lambda items=items, prefix=prefix: upload(client, prefix, items))
                log(f"s3 {layout}: uploaded {len(items):,} objects in {seconds:.1f} s")
                uri = f"s3://{BUCKET}/{prefix}"
                measured.append(
                    _measure_layout(
                        layout, uri, items, dataset.rows, REPEATS[size], WITH_FETCH_ONLY[size]
                    )
                )
        finally:
            server.stop()
            for k in [k for k in os.environ if k.startswith("AWS_")]:
                os.environ.pop(k)
            os.environ.update(saved)
    return {
        "rows": dataset.rows,
        "farms": dataset.spec.farms,
        "interval_minutes": dataset.spec.interval_minutes,
        "layouts": measured,
        "checks": [c.as_dict() for c in checks(measured)],
    }


def _measure_layout(
    layout: str, uri: str, items: dict[str, bytes], rows: int, repeats: int, fetch_only: bool
) -> dict[str, Any]:
    def side(target: str) -> Any:
        def call() -> dict[str, Any]:
            value = run_in_child(f"benchmarks.s3:{target}", {"uri": uri}).value
            log(f"s3 {layout} {target}: {value['seconds']:.2f} s")
            return value

        return call

    sides = {
        "yieldflow": side("run_yieldflow"),
        "duckdb": side("run_duckdb"),
        "reference": side("run_reference"),
        "floor": side("run_parse_floor"),
    }
    if fetch_only:
        sides["fetch"] = side("run_yieldflow_fetch")
    runs = interleaved(sides, repeats)
    total = sum(len(v) for v in items.values())
    if any(
        runs[name][0]["bytes"] != total for name in ("reference", "floor", "fetch") if name in runs
    ):
        raise AssertionError(f"{layout}: a side did not download every byte")
    seconds = {name: median(r["seconds"] for r in result) for name, result in runs.items()}
    fetch_s = seconds.get("fetch", float("nan"))
    return {
        "layout": layout,
        "objects": len(items),
        "bytes": total,
        "rows": rows,
        "repeats": repeats,
        "yieldflow_s": seconds["yieldflow"],
        "duckdb_s": seconds["duckdb"],
        "reference_s": seconds["reference"],
        "fetch_s": fetch_s,
        "floor_s": seconds["floor"],
        "yieldflow_mb_s": total / seconds["yieldflow"] / 1e6,
        "reference_mb_s": total / seconds["reference"] / 1e6,
        "fetch_mb_s": total / fetch_s / 1e6,
        "yieldflow_objects_s": len(items) / seconds["yieldflow"],
        "reference_objects_s": len(items) / seconds["reference"],
        "times": {name: [r["seconds"] for r in result] for name, result in runs.items()},
    }


def checks(measured: list[dict[str, Any]]) -> list[Check]:
    found = []
    for m in measured:
        found.append(
            at_least(
                "s3",
                m["layout"],
                "throughput yieldflow ingest / DuckDB S3 read",
                m["duckdb_s"] / m["yieldflow_s"],
                TARGET,
                f"{m['objects']:,} objects, {m['bytes'] / 1e6:.0f} MB: "
                f"{m['yieldflow_s']:.2f} s vs DuckDB {m['duckdb_s']:.2f} s (plain boto3 "
                f"download {m['reference_s']:.2f} s, yieldflow fetch alone "
                f"{m['fetch_mb_s']:.1f} MB/s; download + bare Arrow parse "
                f"{m['floor_s']:.2f} s)",
            )
        )
    return found
