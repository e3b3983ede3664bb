"""Ingestion's memory beyond the readings it returns does not grow with the dataset.

DuckDB streams the checked records out in batches, straight into the readings' arrays
(yieldflow.ingest.sensor_query), so beyond the typed readings ingestion should hold one file's
bytes, DuckDB's scan buffers and a batch. The probe runs in a fresh interpreter
(ru_maxrss only ever grows): the peak beyond the readings must not grow with the number
of farms.

`python -m tests.test_ingest_memory ROOT` prints one JSON line: peak RSS growth during
ingestion (after every import), the readings' in-memory size and the accounting.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from tests.support.bad_inputs.dataset import NOW, SENSOR_HEADER
from tests.support.bad_inputs.huge import run_memory_probe

ROWS_PER_FARM = 100_000  # ~5.6 MiB of CSV per farm
SMALL_FARMS, LARGE_FARMS = 4, 16
# Beyond the readings it returns, ingestion's peak may grow with the dataset by at most
# this share of the added CSV bytes (allocator noise). Holding every file's text and
# strings at once grows it by several times the CSV.
GROWTH_OF_ADDED_CSV = 0.4


def write_farms(root: Path, farms: int, rows: int) -> int:
    """`farms` folders with one file of `rows` minute readings each; returns CSV bytes."""
    total = 0
    harvests = ["farm_id,season,crop,planting_date,harvest_date,yield_t_ha"]
    for f in range(1, farms + 1):
        farm = f"F{f:02d}"
        harvests.append(f"{farm},2021,Maize,2021-04-20,2021-09-20,10.4")
        lines = [SENSOR_HEADER]
        for i in range(rows):
            day, minute = divmod(i, 1440)
            hour, m = divmod(minute, 60)
            moisture = "-9999" if i % 997 == 0 else f"{25 + (i % 7) * 0.5:.1f}"
            lines.append(
                f"{farm},2021-{4 + day // 28:02d}-{1 + day % 28:02d}T{hour:02d}:{m:02d}:00Z,"
                f"{8 + (i % 13) * 0.75:.2f},0.0,61.5,{moisture},14.5,{(i * 7) % 900},3.25"
            )
        path = root / "sensors" / farm / "export.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        total += path.stat().st_size
    (root / "harvests.csv").write_text("\n".join(harvests) + "\n", encoding="utf-8")
    return total


def probe(root: Path, farms: int) -> tuple[int, int]:
    """Ingest `farms` farm folders in a fresh interpreter: (CSV bytes, overhead bytes),
    the overhead being peak RSS growth beyond the readings' in-memory size."""
    csv_bytes = write_farms(root, farms, ROWS_PER_FARM)
    report = run_memory_probe("tests.integration.test_ingest_memory", str(root))
    acc = report["accounting"]
    assert acc["rows_read"] == acc["rows_accepted"] == farms * ROWS_PER_FARM
    assert acc["readings_nulled"] == farms * len(range(0, ROWS_PER_FARM, 997))
    return csv_bytes, report["growth_bytes"] - report["readings_bytes"]


def test_memory_is_bounded_by_a_batch_not_the_dataset(tmp_path: Path, record_property) -> None:
    small_csv, small = probe(tmp_path / "small", SMALL_FARMS)
    large_csv, large = probe(tmp_path / "large", LARGE_FARMS)
    added = large_csv - small_csv
    summary = (
        f"overhead beyond the readings: {small / 2**20:.0f} MiB for {small_csv / 2**20:.0f} "
        f"MiB of CSV, {large / 2**20:.0f} MiB for {large_csv / 2**20:.0f} MiB "
        f"({(large - small) / added:+.2f}x the added CSV)"
    )
    record_property("ingest_memory", summary)
    print(summary)
    assert large - small < GROWTH_OF_ADDED_CSV * added, summary


def main(root: str) -> None:
    import pandas as pd  # noqa: F401  (every import before the baseline is taken)

    from yieldflow.ingest import dataset as ingest
    from yieldflow.io.local import LocalSource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = ingest.ingest_dataset(LocalSource(root), now=NOW)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result.accounting.check()
    report = {
        "growth_bytes": (after - before) * 1024,
        "readings_bytes": int(result.readings.memory_usage(deep=True).sum()),
        "accounting": result.accounting.__dict__,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
