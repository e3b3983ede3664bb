"""`python -m benchmarks [--size smoke|full] [--only NAME] [--skip-20m]`: run, print, doc.

The four benchmarks run by default, feature engineering at 1M, 5M and 20M rows
(`features` and `features-20m`, 2-4 minutes together); --skip-20m leaves the 20M point
out (its dataset takes 1.5-15 minutes to generate the first time, by machine). The full
size rewrites docs/benchmarks.md; smoke (what CI runs) writes no doc unless --doc is
given, so a CI run never replaces real figures with toy ones. The raw results are stored
beside the page they render (docs/benchmarks.json, committed with it; a smoke run without
--doc keeps its own next to the dataset cache), and each benchmark's latest full result
(with its date) stays on the page until it is measured again, so --only and --render keep
the page complete on any clone.

`training-gpu` (benchmark 3 on a GPU, and the speed-up over the CPU) runs only where torch
sees a GPU. On a machine lent for it: `python -m benchmarks --only training-gpu --json
gpu.json`; then, here, `python -m benchmarks --merge gpu.json` puts it on the page.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import cluster, features, orchestration, report, s3, training
from benchmarks.common import NotMeasured, cache_root, log

BENCHMARKS: dict[str, Callable[[str], dict[str, Any]]] = {
    "features": features.run,
    "features-20m": features.run_scale,
    "s3": s3.run,
    "training": training.run,
    "training-gpu": training.run_gpu,
    "orchestration": orchestration.run,
    "cluster": cluster.run,
}
# training-gpu is measured only where torch sees a GPU; elsewhere it is skipped and its
# last stored result (possibly from another machine, see --merge) stays on the page.
DEFAULT = [
    "features",
    "features-20m",
    "s3",
    "training",
    "training-gpu",
    "orchestration",
    "cluster",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--size", choices=("smoke", "full"), default="full")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    parser.add_argument(
        "--doc",
        type=Path,
        default=None,
        help="write the results page here (default: docs/benchmarks.md for --size full)",
    )
    parser.add_argument("--skip-20m", action="store_true", help="leave out features-20m (20M rows)")
    parser.add_argument("--json", type=Path, default=None, help="also write raw results")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the doc from the stored results"
    )
    parser.add_argument(
        "--merge",
        type=Path,
        default=None,
        help="store the results of a --json file written on another machine (a GPU one, "
        "say) and rewrite the doc",
    )
    args = parser.parse_args(argv)

    if args.render or args.merge:
        measured = json.loads(args.merge.read_text()) if args.merge else {}
        measured = {k: v for k, v in measured.items() if k in BENCHMARKS}
        doc = args.doc or report.DOC_PATH
        stored = _merge_with_previous(results_path(args.size, doc), measured)
        report.write_doc(stored, args.size, doc)
        return 0
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    names = args.only or [n for n in DEFAULT if not (args.skip_20m and n == "features-20m")]
    results = run_all(args.size, names)
    wall_s = time.perf_counter() - started
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    run_info = {
        "wall_s": wall_s,
        "cpu_s": sum(u.ru_utime + u.ru_stime for u in usage),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }

    checks = [c for r in results.values() for c in r["checks"]]
    print(report.console_table(checks))  # this run's checks only
    print(
        f"\nwall time {wall_s / 60:.1f} min, CPU time {run_info['cpu_s'] / 60:.1f} min "
        f"({args.size}; 1-min load average {load_before:.1f} before, "
        f"{run_info['load_after']:.1f} after)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    if set(DEFAULT) - {"features-20m"} <= set(names):  # the headline: the last run of all four
        results["_run"] = {**run_info, "machine": report.machine()}
    doc = args.doc or (report.DOC_PATH if args.size == "full" else None)
    stored = _merge_with_previous(results_path(args.size, doc), results)
    if doc is not None:
        report.write_doc(stored, args.size, doc)
        print(f"wrote {doc}")
    return 0 if all(math.isfinite(c["value"]) for c in checks) else 1


def run_all(size: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """Run the named benchmarks in order; a failing one is recorded and the rest go on."""
    results: dict[str, dict[str, Any]] = {}
    for name in BENCHMARKS:
        if name not in names:
            continue
        started = time.perf_counter()
        log(f"== {name} ({size})")
        try:
            results[name] = BENCHMARKS[name](size)
        except NotMeasured as reason:
            log(f"== {name} skipped: {reason} (its last stored result stays)")
            continue
        except Exception as error:  # keep the other benchmarks' results
            traceback.print_exc()
            message = " ".join(str(error).split())[:300]
            results[name] = {"error": message, "checks": [failed_check(name, message)]}
        results[name]["seconds"] = time.perf_counter() - started
        results[name]["date"] = time.strftime("%Y-%m-%d %H:%M %Z")
        results[name]["commit"] = report.git_commit()
        log(f"== {name} done in {results[name]['seconds']:.0f} s")
    return results


def failed_check(name: str, message: str) -> dict[str, Any]:
    return {
        "benchmark": name,
        "size": "-",
        "metric": "benchmark failed",
        "value": float("nan"),
        "target": "-",
        "met": False,
        "detail": message,
    }


def results_path(size: str, doc: Path | None) -> Path:
    """Where the raw results behind a page live: beside it, so the page's figures travel
    with the repository and any clone can re-render it (the cache does not travel, and a
    page rendered from an empty cache would lose every benchmark not measured again, the
    GPU one above all). A run that writes no page keeps its results in the cache."""
    return doc.with_suffix(".json") if doc is not None else cache_root() / f"results-{size}.json"


def _merge_with_previous(path: Path, results: dict[str, Any]) -> dict[str, Any]:
    """This run's results over the last stored ones (for --only, --render and --merge)."""
    stored: dict[str, Any] = {}
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except ValueError:
            stored = {}
    stored = {k: v for k, v in stored.items() if k in BENCHMARKS or k == "_run"}
    stored.update(results)
    path.write_text(json.dumps(stored, indent=1, default=str) + "\n")
    return {name: stored[name] for name in [*BENCHMARKS, "_run"] if name in stored}


if __name__ == "__main__":
    sys.exit(main())
