"""Timing, memory and dataset helpers shared by every benchmark.

Why these exist: the machine is small (2 cores) and shared, so a single timing means little.
Every comparison runs the reference in the same invocation as the thing measured, repeats
both (interleaved, so a burst of load from someone else hits both sides), and reports the
median and the ratio. Peak memory is read from a fresh child process per measurement, so one
measurement's high-water mark cannot leak into the next.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_ENV = "YIELDFLOW_BENCH_CACHE"
DATASET_VERSION = 1  # bump when the generator's output changes, so stale caches are not used


def cache_root() -> Path:
    """Where generated datasets are kept between runs (generation dominates otherwise)."""
    root = os.environ.get(CACHE_ENV) or "~/.cache/yieldflow-bench"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class DatasetSpec:
    """The generator arguments that identify a cached dataset."""

    farms: int
    seasons: int = 4
    interval_minutes: int = 15
    seed: int = 2024
    first_season: int = 2022  # many seasons need an earlier start: the future is refused

    @property
    def key(self) -> str:
        first = "" if self.first_season == 2022 else f"-first{self.first_season}"
        return (
            f"v{DATASET_VERSION}-farms{self.farms}-seasons{self.seasons}"
            f"-int{self.interval_minutes}-seed{self.seed}{first}"
        )


@dataclass(frozen=True)
class Dataset:
    """A generated dataset on disk and what the generator reported about it."""

    root: Path
    spec: DatasetSpec
    rows: int  # sensor data rows, re-export duplicates included
    files: int
    harvests: int
    csv_bytes: int
    generate_seconds: float  # when it was made (0 reads as "taken from the cache")
    cached: bool


def cached_dataset(spec: DatasetSpec) -> Dataset:
    """The dataset for `spec`, generated once and reused (keyed by every argument).

    Generation goes to a temporary sibling folder that is renamed when complete, so an
    interrupted run never leaves a half-written dataset that a later run would trust.
    """
    from yieldflow.synthetic import generate_dataset

    folder = cache_root() / spec.key
    meta_path = folder / "bench-meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        return Dataset(folder / "data", spec, cached=True, **meta)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.key}-", dir=cache_root()))
    try:
        started = time.perf_counter()
        info = generate_dataset(
            tmp / "data",
            farms=spec.farms,
            seasons=spec.seasons,
            first_season=spec.first_season,
            interval_minutes=spec.interval_minutes,
            seed=spec.seed,
        )
        seconds = time.perf_counter() - started
        meta = {
            "rows": info.n_sensor_rows,
            "files": info.n_files,
            "harvests": info.n_harvests,
            "csv_bytes": tree_bytes(tmp / "data"),
            "generate_seconds": round(seconds, 1),
        }
        (tmp / "bench-meta.json").write_text(json.dumps(meta))
        if folder.exists():  # a concurrent run finished first: keep theirs
            shutil.rmtree(tmp)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Dataset(folder / "data", spec, cached=False, **meta)


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())


def warm_page_cache(root: Path) -> None:
    """Read every file once so the first timed side does not pay for a cold disk."""
    for path in Path(root).rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                while handle.read(1 << 24):
                    pass


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes() -> int:
    """Resident set size now (from /proc, so no extra dependency)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


@dataclass
class ChildResult:
    """What a measured function returned in its own process, plus that process's memory."""

    value: dict[str, Any]
    peak_rss_bytes: int  # ru_maxrss of the child: imports included
    baseline_rss_bytes: int  # RSS after imports, before the measured call


def run_in_child(
    target: str,
    kwargs: dict[str, Any],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 1800.0,
) -> ChildResult:
    """Call `module:function(**kwargs)` in a fresh Python and return its JSON-able result.

    A fresh process per measurement is the only way to get a clean peak RSS for each side
    (ru_maxrss never goes down). The result travels through a temporary file, because the
    libraries under test may print to stdout. `env` is added to this process's environment.
    """
    with tempfile.TemporaryDirectory(prefix="yieldflow-bench-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "benchmarks.common", target, json.dumps(kwargs), str(out)]
        proc = subprocess.run(
            command,
            cwd=cwd or REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {}), "PYTHONPATH": _python_path()},
        )
        if proc.returncode != 0 or not out.is_file():
            saved = cache_root() / f"failed-{target.replace(':', '.')}.log"
            saved.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
            tail = "\n".join(proc.stderr.splitlines()[-60:])
            raise RuntimeError(
                f"{target} failed (exit {proc.returncode}); full output in {saved}:\n{tail}"
            )
        payload = json.loads(out.read_text())
    return ChildResult(payload["value"], payload["peak_rss_bytes"], payload["baseline_rss_bytes"])


def _python_path() -> str:
    """The repository first, then whatever PYTHONPATH already held (packages installed
    with --target, as on a lent GPU machine, must reach the child too)."""
    inherited = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(p for p in (str(REPO_ROOT), inherited) if p)


def _child_main(target: str, raw_kwargs: str, out: str) -> None:
    module_name, _, function_name = target.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    baseline = current_rss_bytes()
    value = function(**json.loads(raw_kwargs))
    payload = {"value": value, "peak_rss_bytes": peak_rss_bytes(), "baseline_rss_bytes": baseline}
    Path(out).write_text(json.dumps(payload, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call, on the monotonic high-resolution clock."""
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def interleaved(
    sides: dict[str, Callable[[], dict[str, Any]]], repeats: int
) -> dict[str, list[dict[str, Any]]]:
    """Run each side `repeats` times, alternating A, B, A, B, ... and collect the results.

    Alternating spreads any background load (other engineers' tests on this machine) over
    both sides instead of letting it land on whichever ran second.
    """
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, side in sides.items():
            results[name].append(side())
    return results


class NotMeasured(Exception):
    """This machine cannot run the benchmark (no GPU, say): its last stored result stays."""


@dataclass
class Check:
    """One target: the measured ratio (or value), the limit, and whether it was met."""

    benchmark: str
    size: str
    metric: str  # what the number is, in words
    value: float
    target: str  # e.g. "≤ 2.0"
    met: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def at_most(
    benchmark: str, size: str, metric: str, value: float, limit: float, detail: str = ""
) -> Check:
    return Check(benchmark, size, metric, value, f"≤ {limit:g}", value <= limit, detail)


def at_least(
    benchmark: str, size: str, metric: str, value: float, limit: float, detail: str = ""
) -> Check:
    return Check(benchmark, size, metric, value, f"≥ {limit:g}", value >= limit, detail)


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def log(message: str) -> None:
    """Progress on stderr, flushed, so a background run's log file shows where it is."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    _child_main(*sys.argv[1:4])
