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


# The Prefect variable prefect.yaml's deployments take their dataset from.
DATASET_VARIABLE = "yieldflow_dataset"


class DatasetNotConfiguredError(ValueError):
    """A deployment run without a dataset: it must not fall back to the demo data."""


def dataset_for_run(data: str, deployment: str | None) -> str:
    """The dataset a run reads: the one asked for; for an ad-hoc run (``deployment`` None)
    without one, the built-in demo dataset; a deployment run without one is refused, so a
    schedule can never train or forecast on the demo farms."""
    if data:
        return data
    if deployment is not None:
        raise DatasetNotConfiguredError(
            f"the deployment {deployment} has no dataset: set it with `prefect variable set "
            f"{DATASET_VARIABLE} s3://<bucket>/<prefix> --overwrite` and deploy again "
            "(`prefect --no-prompt deploy --all`), or give this run a dataset in its "
            "parameters; only ad-hoc `yieldflow run` uses the built-in demo data"
        )
    return str(default_dataset_path())
