"""yieldflow.io.s3 against a real S3 server (SeaweedFS, started once per session)."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.servers import SeaweedFS, free_port
from yieldflow.io.local import LocalSource
from yieldflow.io.s3 import S3Source, S3UnavailableError
from yieldflow.io.source import DatasetNotFoundError, join_uri
from yieldflow.io.storage import open_source, read_uri, write_uri

BUCKET = "yieldflow-it"
PREFIX = "datasets/small"
URI = f"s3://{BUCKET}/{PREFIX}"


@pytest.fixture(scope="module")
def dataset_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small contract-following dataset (generated when the generator is available)."""
    root = tmp_path_factory.mktemp("s3-data") / "small"
    try:
        from yieldflow.synthetic import generate_dataset
    except ImportError:
        _hand_written_dataset(root)
    else:
        generate_dataset(root, farms=2, seasons=2, first_season=2022, seed=11)
    return root


def _hand_written_dataset(root: Path) -> None:
    (root / "sensors" / "F01").mkdir(parents=True)
    (root / "harvests.csv").write_text(
        "farm_id,season,crop,planting_date,harvest_date,yield_t_ha\n"
        "F01,2022,Maize,2022-04-01,2022-09-01,9.1\n"
    )
    rows = [
        f"F01,2022-04-{day:02d}T{hour:02d}:00:00Z,{10 + hour / 2},0.0"
        for day in range(1, 4)
        for hour in range(24)
    ]
    (root / "sensors" / "F01" / "2022-04.csv").write_text(
        "farm_id,timestamp,air_temp_c,rainfall_mm\n" + "\n".join(rows) + "\n"
    )


@pytest.fixture(scope="module")
def uploaded(seaweedfs: SeaweedFS, dataset_tree: Path) -> list[str]:
    """The tree at s3://yieldflow-it/datasets/small, plus a folder marker and a sibling."""
    keys = seaweedfs.upload_tree(dataset_tree, BUCKET, PREFIX)
    client = seaweedfs.client()
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/sensors/", Body=b"")  # "folder" marker
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}-other/not-mine.csv", Body=b"x\n")
    return keys


def _count_requests(source: S3Source, operation: str) -> list[int]:
    calls = [0]

    def count(**_: object) -> None:
        calls[0] += 1

    source.client.meta.events.register(f"before-send.s3.{operation}", count)
    return calls


def test_server_started_quickly(seaweedfs: SeaweedFS) -> None:
    assert seaweedfs.startup_seconds is not None and seaweedfs.startup_seconds < 30
    print(f"SeaweedFS ready in {seaweedfs.startup_seconds:.1f} s at {seaweedfs.endpoint_url}")


def test_list_files_matches_local_and_paginates(
    seaweedfs_env: SeaweedFS, uploaded: list[str], dataset_tree: Path
) -> None:
    source = S3Source(URI, page_size=7)
    pages = _count_requests(source, "ListObjectsV2")
    files = source.list_files()
    assert files == LocalSource(dataset_tree).list_files() == sorted(uploaded)
    assert "sensors/" not in files and not any("not-mine" in f for f in files)
    assert pages[0] == math.ceil((len(uploaded) + 1) / 7)  # +1: the folder marker
    assert isinstance(open_source(URI), S3Source)


def test_list_files_over_1000_objects(seaweedfs_env: SeaweedFS) -> None:
    """The default page size (1000) also paginates: 1005 tiny objects need two pages."""
    client = seaweedfs_env.client(max_pool_connections=32)
    seaweedfs_env.create_bucket(BUCKET)
    names = [f"many/obj-{i:04d}.csv" for i in range(1005)]
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=BUCKET, Key=k, Body=b"1"), names))
    source = S3Source(f"s3://{BUCKET}/many")
    pages = _count_requests(source, "ListObjectsV2")
    assert source.list_files() == [n.removeprefix("many/") for n in names]
    assert pages[0] == 2


def test_iter_bytes_same_bytes_in_order_with_bounded_window(
    seaweedfs_env: SeaweedFS, uploaded: list[str], dataset_tree: Path
) -> None:
    source = S3Source(URI, max_workers=3)
    keys = list(reversed(uploaded))  # not the listing order: the order given must be kept
    started = [0]
    lock = threading.Lock()
    read = source.read_bytes

    def counting_read(key: str) -> bytes:
        with lock:
            started[0] += 1
        return read(key)

    source.read_bytes = counting_read  # type: ignore[method-assign]
    seen: list[str] = []
    for key, data in source.iter_bytes(keys):
        assert data == (dataset_tree / key).read_bytes()
        assert started[0] - len(seen) <= 2 * source.max_workers  # bounded look-ahead
        seen.append(key)
    assert seen == keys


def test_iter_bytes_stops_early_and_raises_at_the_right_key(
    seaweedfs_env: SeaweedFS, uploaded: list[str]
) -> None:
    source = S3Source(URI, max_workers=2)
    early = source.iter_bytes(uploaded)
    assert next(early)[0] == uploaded[0]
    early.close()  # cancels the downloads not started yet
    results = source.iter_bytes([uploaded[0], "missing.csv", uploaded[1]])
    assert next(results)[0] == uploaded[0]
    with pytest.raises(FileNotFoundError, match=f"no such S3 object: {URI}/missing.csv"):
        next(results)


def test_write_read_uri_round_trip(seaweedfs_env: SeaweedFS) -> None:
    target = join_uri(f"s3://{BUCKET}/runs", "run-42", "features.parquet")
    assert target == f"s3://{BUCKET}/runs/run-42/features.parquet"
    payload = bytes(range(256)) * 1000
    write_uri(target, payload)
    assert read_uri(target) == payload
    write_uri(target, b"replaced")
    assert read_uri(target) == b"replaced"
    with pytest.raises(FileNotFoundError, match="no such S3 object"):
        read_uri(join_uri(f"s3://{BUCKET}/runs", "run-42", "absent.json"))


def _one_line_no_secret(error: BaseException, seaweedfs: SeaweedFS) -> str:
    message = str(error)
    assert "\n" not in message
    assert seaweedfs.secret_key not in message and seaweedfs.access_key not in message
    return message


def test_missing_bucket_fails_at_once(seaweedfs_env: SeaweedFS) -> None:
    source = S3Source("s3://no-such-bucket-here/data")
    requests = _count_requests(source, "ListObjectsV2")
    started = time.monotonic()
    with pytest.raises(DatasetNotFoundError) as info:
        source.list_files()
    assert time.monotonic() - started < 3
    assert requests[0] == 1  # no retries
    assert _one_line_no_secret(info.value, seaweedfs_env) == (
        "S3 bucket 'no-such-bucket-here' does not exist (reading s3://no-such-bucket-here/data)"
    )


def test_missing_prefix_fails_at_once(seaweedfs_env: SeaweedFS, uploaded: list[str]) -> None:
    source = S3Source(f"s3://{BUCKET}/datasets/nothing-here")
    requests = _count_requests(source, "ListObjectsV2")
    with pytest.raises(DatasetNotFoundError) as info:
        source.list_files()
    assert requests[0] == 1
    assert _one_line_no_secret(info.value, seaweedfs_env) == (
        f"no objects found under s3://{BUCKET}/datasets/nothing-here"
    )


def test_unreachable_endpoint_after_retries(
    seaweedfs_env: SeaweedFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    monkeypatch.setenv("YIELDFLOW_S3_MAX_ATTEMPTS", "2")
    source = S3Source(URI)
    attempts = _count_requests(source, "ListObjectsV2")
    started = time.monotonic()
    with pytest.raises(S3UnavailableError) as info:
        source.list_files()
    assert time.monotonic() - started < 10
    assert attempts[0] == 2
    assert _one_line_no_secret(info.value, seaweedfs_env) == (
        f"S3 endpoint {endpoint} is unreachable after 2 attempts: Connection refused"
    )


def test_ingest_from_s3_matches_local(
    seaweedfs_env: SeaweedFS, uploaded: list[str], dataset_tree: Path
) -> None:
    from yieldflow.ingest.dataset import ingest_dataset

    local = ingest_dataset(LocalSource(dataset_tree))
    from_s3 = ingest_dataset(S3Source(URI))
    assert from_s3.accounting == local.accounting
    assert from_s3.accounting.rows_read > 0
    assert len(from_s3.quarantine) == len(local.quarantine)
