"""S3 misbehaving between yieldflow and a real SeaweedFS server (tests/fault_proxy.py).

Slow connections cut mid-listing and mid-download are retried and change nothing in the
result; S3 failing for longer than the retries stops the run with one line and leaves no
output that looks like a finished run.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from tests.support.fault_proxy import FaultProxy
from tests.support.servers import SeaweedFS
from yieldflow.features.seasons import build_season_features
from yieldflow.ingest.dataset import IngestionResult, ingest_dataset
from yieldflow.io.s3 import S3Source, s3_client

BUCKET = "yieldflow-faults"
URI = f"s3://{BUCKET}/exports/2024"
PAGE_SIZE = 5  # several listing pages, so a cut lands between and inside pages


@pytest.fixture(scope="module")
def uploaded(seaweedfs: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    from yieldflow.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("s3-faults") / "data"
    generate_dataset(root, farms=3, seasons=2, first_season=2022, seed=5)
    seaweedfs.create_bucket(BUCKET)
    return seaweedfs.upload_tree(root, BUCKET, "exports/2024")


def _through(proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
    s3_client.cache_clear()


def _target_port(seaweedfs: SeaweedFS) -> int:
    port = urlsplit(seaweedfs.endpoint_url).port
    assert port is not None
    return port


def _assert_same(actual: IngestionResult, expected: IngestionResult) -> None:
    assert actual.accounting == expected.accounting
    for table in ("readings", "harvests", "farms", "quarantine"):
        pd.testing.assert_frame_equal(getattr(actual, table), getattr(expected, table))
    features = [
        build_season_features(r.readings, r.harvests, r.farms, min_coverage=0.7).table
        for r in (actual, expected)
    ]
    pd.testing.assert_frame_equal(*features)


def test_slow_and_dropped_connections_change_nothing(
    seaweedfs_env: SeaweedFS, uploaded: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(uploaded) > 3 * PAGE_SIZE
    undisturbed = ingest_dataset(S3Source(URI, page_size=PAGE_SIZE))
    # Slow and cut after 3 kB: the first connection (the listing, cut inside its second
    # page) and downloads on the next three. At most 3 cuts hit any one request, fewer
    # than its 5 attempts, so every request gets through in the end.
    with FaultProxy(
        _target_port(seaweedfs_env),
        faulty=lambda number, path: number == 1 or (number <= 4 and "list-type" not in path),
        cut_after_bytes=3000,
        delay_s=0.02,
    ) as proxy:
        _through(proxy, monkeypatch)
        disturbed = ingest_dataset(S3Source(URI, page_size=PAGE_SIZE))
    assert any("list-type=2" in path for path in proxy.cuts), proxy.cuts
    assert any("list-type=2" not in path for path in proxy.cuts), proxy.cuts
    assert undisturbed.accounting.rows_read > 0
    _assert_same(disturbed, undisturbed)


def test_s3_failing_past_the_retries_mid_run_publishes_nothing(
    prefect_server,
    seaweedfs_env: SeaweedFS,
    uploaded: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from yieldflow.config import DataConfig, PipelineConfig, TrackingConfig
    from yieldflow.flows.seasonal_pipeline import seasonal_pipeline
    from yieldflow.io.s3 import S3UnavailableError

    monkeypatch.setenv("YIELDFLOW_S3_MAX_ATTEMPTS", "2")
    # Listing works; every download is cut: S3 goes away after the run has started.
    with FaultProxy(
        _target_port(seaweedfs_env),
        faulty=lambda _number, path: "list-type=2" not in path,
        cut_after_bytes=0,
    ) as proxy:
        _through(proxy, monkeypatch)
        config = PipelineConfig(
            data=DataConfig(data=URI),
            tracking=TrackingConfig(experiment="s3-down", output_dir=str(tmp_path / "runs")),
        )
        with pytest.raises(S3UnavailableError) as raised:
            seasonal_pipeline(config)
    message = str(raised.value)
    assert "\n" not in message and "after 2 attempts" in message
    assert seaweedfs_env.secret_key not in message
    assert proxy.cuts and all("list-type=2" not in path for path in proxy.cuts)
    (run_folder,) = (tmp_path / "runs").iterdir()
    left = {p.name for p in run_folder.rglob("*")}
    assert not left & {"summary.json", "report.md", "quarantine.csv", "features.parquet"}, left
