"""yieldflow.io.s3 and the URI helpers of yieldflow.io.storage, without any server."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from yieldflow.io import s3
from yieldflow.io.s3 import S3ConfigError, S3Source, S3UnavailableError, s3_client
from yieldflow.io.source import DatasetNotFoundError, join_uri, split_s3_uri
from yieldflow.io.storage import open_source, read_uri, write_uri

FAKE_KEY_ID = "AKIAFAKEKEYID0000001"
FAKE_SECRET = "fake/secret+Value0123456789abcdefghijKLMN"
FAKE_TOKEN = "fake-session-token-value-xyz"


@pytest.fixture(autouse=True)
def _clean_s3_env(monkeypatch: pytest.MonkeyPatch):
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_PROFILE",
        "YIELDFLOW_S3_SECRET_BLOCK",
        "YIELDFLOW_S3_MAX_ATTEMPTS",
        "YIELDFLOW_S3_ADDRESSING_STYLE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3_client.cache_clear()
    yield
    s3_client.cache_clear()


def _dead_endpoint() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def _assert_no_credentials(text: str) -> None:
    for secret in (FAKE_KEY_ID, FAKE_SECRET, FAKE_TOKEN):
        assert secret not in text


# --- URI parsing and key safety -------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket-a/data/farms", ("bucket-a", "data/farms")),
        ("s3://bucket-a/data/farms/", ("bucket-a", "data/farms")),
        ("s3://bucket-a", ("bucket-a", "")),
        ("s3://bucket-a/", ("bucket-a", "")),
        ("s3://my.bucket-01/x", ("my.bucket-01", "x")),
    ],
)
def test_split_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert split_s3_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "s3://",
        "s3://ab/x",  # bucket too short
        "s3://key:secret@bucket/x",  # credentials in the URI are refused
        "s3://bucket-a/data/../other",
        "s3://bucket-a/../x",
        "/local/path",
    ],
)
def test_split_s3_uri_refuses(uri: str) -> None:
    with pytest.raises(ValueError):
        split_s3_uri(uri)


def test_source_uri_and_repr() -> None:
    source = S3Source("s3://bucket-a/data/farms/", max_workers=4)
    assert (source.bucket, source.prefix, source.uri) == (
        "bucket-a",
        "data/farms",
        "s3://bucket-a/data/farms",
    )
    assert repr(source) == "S3Source('s3://bucket-a/data/farms', max_workers=4)"
    assert S3Source("s3://bucket-a").uri == "s3://bucket-a"
    assert isinstance(open_source("s3://bucket-a/x"), S3Source)


def test_source_refuses_unsafe_keys_before_any_request() -> None:
    source = S3Source("s3://bucket-a/data")
    for key in ("../secrets.csv", "sensors/../../x", "/etc/passwd"):
        with pytest.raises(ValueError, match="unsafe"):
            source.read_bytes(key)
        with pytest.raises(ValueError, match="unsafe"):
            list(source.iter_bytes(["farms.csv", key]))


def _source_with_pages(monkeypatch: pytest.MonkeyPatch, pages: list[dict]) -> S3Source:
    """An S3Source whose (real, offline) client returns these listing pages."""

    class Paginator:
        def paginate(self, **kwargs):
            assert kwargs["Bucket"] == "bucket-a" and kwargs["Prefix"] == "data/"
            return iter(pages)

    client = s3_client()
    monkeypatch.setattr(client, "get_paginator", lambda name: Paginator())
    source = S3Source("s3://bucket-a/data")
    source._client = client
    return source


def test_listing_refuses_dotdot_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [
        {"Contents": [{"Key": "data/farms.csv"}, {"Key": "data/sensors/"}]},
        {"Contents": [{"Key": "data/sensors/../../escape.csv"}]},
    ]
    source = _source_with_pages(monkeypatch, pages)
    with pytest.raises(ValueError, match=r"unsafe object key under s3://bucket-a/data"):
        source.list_files()


def test_listing_skips_directory_markers_and_sorts(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [
        {"Contents": [{"Key": "data/sensors/"}, {"Key": "data/sensors/F02/a.csv", "Size": 7}]},
        {"Contents": [{"Key": "data/harvests.csv", "Size": 40}, {"Key": "data/"}]},
        {},
    ]
    source = _source_with_pages(monkeypatch, pages)
    assert source.list_files() == ["harvests.csv", "sensors/F02/a.csv"]
    # sizes come with the listing, so sensor batches are sized without a request
    assert (source.listed_size("sensors/F02/a.csv"), source.listed_size("harvests.csv")) == (7, 40)
    assert source.listed_size("sensors/F03/unlisted.csv") is None


def test_empty_listing_is_dataset_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source_with_pages(monkeypatch, [{"KeyCount": 0}, {"Contents": [{"Key": "data/x/"}]}])
    with pytest.raises(DatasetNotFoundError, match=r"^no objects found under s3://bucket-a/data$"):
        source.list_files()


# --- join_uri / write_uri / read_uri (local) ------------------------------------------


def test_join_uri() -> None:
    assert join_uri("s3://bucket-a/runs", "r1", "features.parquet") == (
        "s3://bucket-a/runs/r1/features.parquet"
    )
    assert join_uri("s3://bucket-a/runs/", "r1/x.json") == "s3://bucket-a/runs/r1/x.json"
    assert join_uri("s3://bucket-a", "x.json") == "s3://bucket-a/x.json"
    assert join_uri("/tmp/runs", "r1", "x.json") == str(Path("/tmp/runs/r1/x.json"))
    assert join_uri(Path("runs"), "a/b") == str(Path("runs/a/b"))


@pytest.mark.parametrize("part", ["..", "a/../..", "../x", "/abs"])
def test_join_uri_refuses_escaping_parts(part: str) -> None:
    for base in ("s3://bucket-a/runs", "/tmp/runs"):
        with pytest.raises(ValueError):
            join_uri(base, "r1", part)


def test_write_read_uri_local_is_atomic_and_creates_folders(tmp_path: Path) -> None:
    target = join_uri(tmp_path, "run-1", "deep", "out.bin")
    write_uri(target, b"first")
    write_uri(target, b"second")
    assert read_uri(target) == b"second"
    assert sorted(p.name for p in Path(target).parent.iterdir()) == ["out.bin"]  # no temp left
    with pytest.raises(FileNotFoundError):
        read_uri(tmp_path / "missing.bin")


def test_write_uri_local_failure_leaves_no_temp_file(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_uri(tmp_path / "out.bin", "not bytes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_s3_object_uri_needs_a_key() -> None:
    for uri in ("s3://bucket-a", "s3://bucket-a/folder/"):
        with pytest.raises(ValueError, match="object URI"):
            read_uri(uri)
        with pytest.raises(ValueError, match="object URI"):
            write_uri(uri, b"x")


# --- endpoint, attempts, client configuration ------------------------------------------


def test_endpoint_env_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert s3.endpoint_url() is None
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://general:9000/")
    assert s3.endpoint_url() == "http://general:9000"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-only:8333")
    assert s3.endpoint_url() == "http://s3-only:8333"
    assert s3_client().meta.endpoint_url == "http://s3-only:8333"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "  ")
    assert s3_client().meta.endpoint_url == "http://general:9000"


def test_client_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:8333")
    config = s3_client().meta.config
    assert config.retries == {"total_max_attempts": 5, "mode": "standard"}
    assert config.s3["addressing_style"] == "path"
    assert (config.connect_timeout, config.read_timeout) == (
        s3.CONNECT_TIMEOUT_S,
        s3.READ_TIMEOUT_S,
    )
    monkeypatch.setenv("YIELDFLOW_S3_MAX_ATTEMPTS", "2")
    assert s3_client().meta.config.retries["total_max_attempts"] == 2
    assert S3Source("s3://bucket-a/x", max_workers=32).client.meta.config.max_pool_connections == 32


@pytest.mark.parametrize("raw", ["0", "-1", "many"])
def test_bad_max_attempts(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("YIELDFLOW_S3_MAX_ATTEMPTS", raw)
    with pytest.raises(S3ConfigError, match="YIELDFLOW_S3_MAX_ATTEMPTS"):
        s3_client()


# --- credentials never leak ---------------------------------------------------------


def test_unreachable_error_is_one_line_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = _dead_endpoint()
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("YIELDFLOW_S3_MAX_ATTEMPTS", "2")
    source = S3Source("s3://bucket-a/data")
    _assert_no_credentials(repr(source) + str(source))
    for action in (source.list_files, lambda: source.read_bytes("farms.csv")):
        with pytest.raises(S3UnavailableError) as info:
            action()
        message = str(info.value)
        assert message == (
            f"S3 endpoint {endpoint} is unreachable after 2 attempts: Connection refused"
        )
        assert info.value.__cause__ is None and info.value.__suppress_context__
        _assert_no_credentials(message)
    with pytest.raises(S3UnavailableError) as info:
        write_uri("s3://bucket-a/runs/x.bin", b"data")
    _assert_no_credentials(str(info.value))


def test_secret_block_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.blocks import system

    loaded: list[str] = []

    class FakeSecret:
        def __init__(self, value):
            self.value = value

        def get(self):
            return self.value

    values = {
        "s3-json": json.dumps(
            {"aws_access_key_id": "BLOCKKEYID", "aws_secret_access_key": FAKE_SECRET}
        ),
        "s3-dict": {
            "aws_access_key_id": "BLOCKKEYID",
            "aws_secret_access_key": FAKE_SECRET,
            "aws_session_token": FAKE_TOKEN,
        },
        "s3-bad": {"aws_access_key_id": "BLOCKKEYID", "password": FAKE_SECRET},
    }

    def fake_load(name, **kwargs):
        loaded.append(name)
        if name not in values:
            raise ValueError(f"Unable to find block document named {name}")
        return FakeSecret(values[name])

    monkeypatch.setattr(system.Secret, "load", fake_load)
    monkeypatch.setenv("YIELDFLOW_S3_SECRET_BLOCK", "s3-json")
    credentials = s3_client()._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (
        "BLOCKKEYID",
        FAKE_SECRET,
        None,
    )
    s3_client()
    assert loaded == ["s3-json"]  # loaded lazily, once
    monkeypatch.setenv("YIELDFLOW_S3_SECRET_BLOCK", "s3-dict")
    assert s3_client()._request_signer._credentials.token == FAKE_TOKEN

    for name in ("s3-bad", "missing-block"):
        monkeypatch.setenv("YIELDFLOW_S3_SECRET_BLOCK", name)
        with pytest.raises(S3ConfigError, match=name) as info:
            s3_client()
        _assert_no_credentials(str(info.value))
        assert "\n" not in str(info.value)


def test_secret_block_credentials_never_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.blocks import system

    class FakeSecret:
        def get(self):
            return {"aws_access_key_id": FAKE_KEY_ID, "aws_secret_access_key": FAKE_SECRET}

    monkeypatch.setattr(system.Secret, "load", lambda name, **kw: FakeSecret())
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("YIELDFLOW_S3_SECRET_BLOCK", "s3-creds")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", _dead_endpoint())
    monkeypatch.setenv("YIELDFLOW_S3_MAX_ATTEMPTS", "1")
    with pytest.raises(S3UnavailableError) as info:
        S3Source("s3://bucket-a/data").list_files()
    _assert_no_credentials(str(info.value) + repr(info.value))


def test_dataset_not_found_is_the_storage_error() -> None:
    assert issubclass(s3.S3AccessError, DatasetNotFoundError)
    assert not issubclass(S3UnavailableError, OSError)  # an outage must not look like a bad file


# --- S3 error codes (botocore Stubber: real client, canned responses) ---------------------


@pytest.mark.parametrize(
    ("code", "status", "error", "message"),
    [
        (
            "NoSuchBucket",
            404,
            DatasetNotFoundError,
            "S3 bucket 'bucket-a' does not exist (reading s3://bucket-a/data)",
        ),
        (
            "AccessDenied",
            403,
            s3.S3AccessError,
            "access denied to s3://bucket-a/data (AccessDenied): "
            "check the credentials and the bucket policy",
        ),
        (
            "InvalidAccessKeyId",
            403,
            s3.S3AccessError,
            "access denied to s3://bucket-a/data (InvalidAccessKeyId): "
            "check the credentials and the bucket policy",
        ),
        (
            "SlowDown",
            503,
            S3UnavailableError,
            "S3 endpoint https://s3.amazonaws.com is unavailable after 5 attempts: "
            "HTTP 503 SlowDown (for s3://bucket-a/data)",
        ),
    ],
)
def test_client_errors_become_one_line(
    code: str, status: int, error: type[Exception], message: str
) -> None:
    from botocore.stub import Stubber

    source = S3Source("s3://bucket-a/data")
    with Stubber(source.client) as stub:
        stub.add_client_error(
            "list_objects_v2",
            service_error_code=code,
            service_message=f"details mentioning {FAKE_KEY_ID}",
            http_status_code=status,
            response_meta={"RetryAttempts": 4} if status >= 500 else None,
        )
        with pytest.raises(error) as info:
            source.list_files()
    assert str(info.value) == message
    _assert_no_credentials(str(info.value))


def test_missing_object_is_file_not_found() -> None:
    from botocore.stub import Stubber

    source = S3Source("s3://bucket-a/data")
    with Stubber(source.client) as stub:
        stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)
        with pytest.raises(
            FileNotFoundError, match=r"no such S3 object: s3://bucket-a/data/x\.csv"
        ):
            source.read_bytes("x.csv")
