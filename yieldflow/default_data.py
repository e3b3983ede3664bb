"""The built-in default dataset: generated once, deterministically, then reused."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

DEFAULT_FARMS = 12
DEFAULT_SEASONS = 4
DEFAULT_FIRST_SEASON = 2022
DEFAULT_DATA_SEED = 2024
_VERSION = "v1"  # bump when the generator changes, so stale copies are not reused


def cache_dir() -> Path:
    return Path(os.environ.get("YIELDFLOW_CACHE", Path.home() / ".cache" / "yieldflow"))


def default_dataset_path() -> Path:
    """The default dataset's folder, generating it on first use (a few seconds)."""
    target = cache_dir() / f"default-data-{_VERSION}"
    if (target / "harvests.csv").exists():
        return target
    from yieldflow.synthetic import generate_dataset

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".default-data-", dir=target.parent))
    try:
        generate_dataset(
            staging,
            farms=DEFAULT_FARMS,
            seasons=DEFAULT_SEASONS,
            first_season=DEFAULT_FIRST_SEASON,
            seed=DEFAULT_DATA_SEED,
        )
        try:
            staging.rename(target)  # atomic: a concurrent run sees all or nothing
        except OSError:
            if not (target / "harvests.csv").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
