"""A huge sensor file (millions of rows, written in chunks) and a memory probe for ingestion.

`python -m tests.support.bad_inputs.huge ROOT` ingests ROOT in a fresh interpreter and prints one
JSON line: the peak resident set size before and after ingestion (ru_maxrss, after every
import) and the accounting, so the test measures ingestion alone.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from tests.support.bad_inputs.dataset import NOW, SENSOR_HEADER

REPO = Path(__file__).resolve().parents[3]


def run_memory_probe(module: str, *args: str) -> dict:
    """Run ``python -m module args`` in a fresh interpreter (so its peak RSS is ingestion's
    alone) and return the JSON report it prints last."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


HUGE_START = "2020-01-01"
HUGE_HARVEST = (
    "farm_id,season,crop,planting_date,harvest_date,yield_t_ha\n"
    "F01,2021,Maize,2021-04-20,2021-09-20,10.4\n"
)


def write_huge_dataset(root: Path, rows: int) -> Path:
    """One farm, one sensor file of `rows` one-minute readings, written a day at a time.

    Each day repeats one template (1440 lines) with its date filled in, so writing ~2
    million rows takes about a second and never holds more than a day in memory. Line 2 of
    every day (minute 0) carries a -9999 soil moisture: one nulled value per day.
    """
    import pandas as pd

    template = []
    for minute in range(1440):
        hour, m = divmod(minute, 60)
        temp = 8.0 + 10.0 * abs(hour - 12) / 12
        moisture = "-9999" if minute == 0 else f"{25 + (minute % 7) * 0.5:.1f}"
        template.append(
            f"F01,DAYT{hour:02d}:{m:02d}:00Z,{temp:.2f},0.0,61.5,{moisture},14.5,"
            f"{max(0, 800 - abs(hour - 13) * 110)},3.25\n"
        )
    day_bytes = [line.encode() for line in template]
    path = root / "sensors" / "F01" / "minute export 2020-2023.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    (root / "harvests.csv").write_text(HUGE_HARVEST, encoding="utf-8")
    day = pd.Timestamp(HUGE_START)
    with open(path, "wb") as out:
        out.write(SENSOR_HEADER.encode() + b"\n")
        left = rows
        while left > 0:
            lines = day_bytes[: min(left, 1440)]
            out.write(b"".join(lines).replace(b"DAY", f"{day:%Y-%m-%d}".encode()))
            left -= len(lines)
            day += pd.Timedelta(days=1)
    return path


def main(root: str) -> None:
    import pandas as pd  # noqa: F401  (every import before the baseline is taken)

    from yieldflow.ingest.dataset import ingest_dataset
    from yieldflow.io.local import LocalSource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = ingest_dataset(LocalSource(root), now=NOW)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result.accounting.check()
    report = {
        "rss_before_mb": before / 1024,
        "rss_peak_mb": after / 1024,
        "seconds": seconds,
        "accounting": asdict(result.accounting),
        "quarantine_entries": len(result.quarantine),
        "readings": len(result.readings),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
