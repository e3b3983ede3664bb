"""Datasets and run outputs on S3 (or any S3-compatible store) through boto3.

`S3Source` lets ingestion read `s3://bucket/prefix` exactly like a local folder (the
DataSource protocol of yieldflow.io.storage), and `put_uri` / `get_uri` back
`yieldflow.io.storage.write_uri` / `read_uri` so flows on different machines can hand data to
each other. Every boto3 client comes from one factory, `s3_client()`, so the endpoint,
credentials and retry policy are the same everywhere.

Configuration (all optional):

- `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`: a non-AWS endpoint (SeaweedFS, MinIO, ...).
- credentials: the standard boto3 chain, or the Prefect `Secret` block named by
  `YIELDFLOW_S3_SECRET_BLOCK`, holding a JSON object with `aws_access_key_id`,
  `aws_secret_access_key` and optionally `aws_session_token`.
- `YIELDFLOW_S3_MAX_ATTEMPTS` (default 5): total attempts per request; botocore's
  "standard" retry mode retries throttling, 5xx and connection errors with backoff.
- `YIELDFLOW_S3_ADDRESSING_STYLE`: `path`, `virtual` or `auto`; default `path` with a
  custom endpoint (what S3-compatible servers expect) and `auto` on AWS.

Failures reach the user as one line that names the URI or endpoint and never contains a
credential: `S3UnavailableError` once retries are exhausted, `DatasetNotFoundError` /
`S3AccessError` at once (no retries) for a missing bucket, an empty prefix or a refusal.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from yieldflow.io.concurrency import fetch_concurrently
from yieldflow.io.source import DatasetNotFoundError, safe_relative_key, split_s3_uri

ENV_MAX_ATTEMPTS = "YIELDFLOW_S3_MAX_ATTEMPTS"
ENV_SECRET_BLOCK = "YIELDFLOW_S3_SECRET_BLOCK"
ENV_ADDRESSING_STYLE = "YIELDFLOW_S3_ADDRESSING_STYLE"
DEFAULT_MAX_ATTEMPTS = 5
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 60

# Error codes that no retry can fix: the request reached S3 and was refused.
_ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "AccountProblem",
        "403",
    }
)
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_TRANSPORT_ERRORS = (HTTPClientError, BotoConnectionError)
# Errors while streaming a body happen after botocore's retry layer, so _get retries them.
_BODY_ERRORS = (HTTPClientError, IncompleteReadError)


class S3Error(Exception):
    """An S3 request failed; the message is one line without credentials."""


class S3UnavailableError(S3Error):
    """The endpoint could not be reached (or kept failing) after all retry attempts."""


class S3AccessError(S3Error, DatasetNotFoundError):
    """S3 refused the request (credentials, bucket policy); retrying cannot help."""


class S3ConfigError(S3Error):
    """The S3 settings (environment variables, Secret block) are unusable."""


def endpoint_url() -> str | None:
    """The custom endpoint from the standard variables: the S3-specific one wins."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        value = os.environ.get(name, "").strip()
        if value:
            return value.rstrip("/")
    return None


def max_attempts() -> int:
    """Total attempts per request (first try included), from YIELDFLOW_S3_MAX_ATTEMPTS."""
    raw = os.environ.get(ENV_MAX_ATTEMPTS, "").strip()
    if not raw:
        return DEFAULT_MAX_ATTEMPTS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise S3ConfigError(f"{ENV_MAX_ATTEMPTS} must be a whole number >= 1, got {raw!r}")
    return value


@dataclass(frozen=True)
class _Settings:
    """What a client depends on; the cache key of _client_for (holds no secret)."""

    endpoint: str | None
    secret_block: str | None
    attempts: int
    addressing_style: str
    pool_size: int
    pid: int  # a client's connection pool must not cross a fork


def _settings(pool_size: int) -> _Settings:
    endpoint = endpoint_url()
    style = os.environ.get(ENV_ADDRESSING_STYLE, "").strip().lower()
    if style and style not in ("path", "virtual", "auto"):
        raise S3ConfigError(f"{ENV_ADDRESSING_STYLE} must be path, virtual or auto, got {style!r}")
    return _Settings(
        endpoint=endpoint,
        secret_block=os.environ.get(ENV_SECRET_BLOCK, "").strip() or None,
        attempts=max_attempts(),
        addressing_style=style or ("path" if endpoint else "auto"),
        pool_size=max(10, pool_size),
        pid=os.getpid(),
    )


def s3_client(max_pool_connections: int = 10) -> Any:
    """The boto3 S3 client for the current settings (cached: clients are thread-safe).

    Credentials from a Secret block are loaded once per process and block name; restart
    the process (or call `s3_client.cache_clear()`) after rotating them.
    """
    return _client_for(_settings(max_pool_connections))


@functools.lru_cache(maxsize=16)
def _client_for(settings: _Settings) -> Any:
    credentials = _secret_credentials(settings.secret_block) if settings.secret_block else {}
    session = boto3.session.Session()
    # S3-compatible servers often reject the CRC checksums botocore sends by default since
    # 1.36; send them only where an operation requires one when the endpoint is not AWS.
    checksums = "when_required" if settings.endpoint else "when_supported"
    config = Config(
        retries={"total_max_attempts": settings.attempts, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        max_pool_connections=settings.pool_size,
        s3={"addressing_style": settings.addressing_style},
        request_checksum_calculation=checksums,
        response_checksum_validation=checksums,
    )
    return session.client(
        "s3",
        endpoint_url=settings.endpoint,
        region_name=session.region_name or "us-east-1",
        config=config,
        **credentials,
    )


s3_client.cache_clear = _client_for.cache_clear  # type: ignore[attr-defined]


def _secret_credentials(block: str) -> dict[str, str]:
    """Credentials from a Prefect Secret block (imported lazily: only this path needs it)."""
    try:
        from prefect.blocks.system import Secret

        # _sync: a sync caller inside an event loop must not get a coroutine back.
        value = Secret.load(block, _sync=True).get()
    except Exception as err:
        # No detail from err: a validation error could echo the stored value.
        raise S3ConfigError(
            f"cannot load the Prefect Secret block {block!r} named by {ENV_SECRET_BLOCK} "
            f"({type(err).__name__}): does it exist and is the Prefect API reachable?"
        ) from None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    required = ("aws_access_key_id", "aws_secret_access_key")
    if not isinstance(value, dict) or not all(
        isinstance(value.get(k), str) and value[k] for k in required
    ):
        raise S3ConfigError(
            f"the Prefect Secret block {block!r} must hold a JSON object with "
            "aws_access_key_id and aws_secret_access_key (optionally aws_session_token)"
        )
    credentials = {k: value[k] for k in required}
    if isinstance(value.get("aws_session_token"), str) and value["aws_session_token"]:
        credentials["aws_session_token"] = value["aws_session_token"]
    return credentials


def _reason(err: BaseException) -> str:
    """A short transport-level reason ("Connection refused"), without URLs or headers."""
    if isinstance(err, ConnectTimeoutError):
        return f"connect timed out after {CONNECT_TIMEOUT_S} s"
    if isinstance(err, ReadTimeoutError):
        return f"no response within {READ_TIMEOUT_S} s"
    seen: set[int] = set()
    stack: list[BaseException] = [err]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        inner = getattr(current, "kwargs", {}).get("error")
        stack.extend(e for e in (current.__cause__, current.__context__, inner) if e is not None)
    return type(err).__name__


@contextmanager
def _translated(client: Any, uri: str) -> Iterator[None]:
    """Turn botocore errors into the one-line errors of this module (see module doc)."""
    attempts = client.meta.config.retries.get("total_max_attempts", DEFAULT_MAX_ATTEMPTS)
    endpoint = client.meta.endpoint_url
    try:
        yield
    except ClientError as err:
        error = err.response.get("Error", {})
        meta = err.response.get("ResponseMetadata", {})
        code = str(error.get("Code", "Unknown"))
        status = int(meta.get("HTTPStatusCode") or 0)
        if code == "NoSuchBucket":
            bucket = split_s3_uri(uri)[0]
            raise DatasetNotFoundError(
                f"S3 bucket {bucket!r} does not exist (reading {uri})"
            ) from None
        if code in _ACCESS_CODES or status == 403:
            raise S3AccessError(
                f"access denied to {uri} ({code}): check the credentials and the bucket policy"
            ) from None
        if code in _MISSING_KEY_CODES or status == 404:
            raise FileNotFoundError(f"no such S3 object: {uri}") from None
        if status >= 500 or status == 429 or "Throttl" in code or code == "SlowDown":
            tries = int(meta.get("RetryAttempts", attempts - 1)) + 1
            raise S3UnavailableError(
                f"S3 endpoint {endpoint} is unavailable after {tries} attempts: "
                f"HTTP {status} {code} (for {uri})"
            ) from None
        raise S3Error(f"S3 request for {uri} failed: {code} (HTTP {status})") from None
    except _TRANSPORT_ERRORS as err:
        raise S3UnavailableError(
            f"S3 endpoint {endpoint} is unreachable after {attempts} attempts: {_reason(err)}"
        ) from None
    except (NoCredentialsError, PartialCredentialsError):
        raise S3AccessError(
            f"no usable AWS credentials for {uri}: configure the boto3 credential chain "
            f"or set {ENV_SECRET_BLOCK} to a Prefect Secret block"
        ) from None
    except BotoCoreError as err:
        raise S3Error(f"S3 request for {uri} failed: {type(err).__name__}") from None


def _get(client: Any, bucket: str, key: str) -> bytes:
    """One object's bytes; a body cut off mid-stream is fetched again (botocore won't)."""
    attempts = client.meta.config.retries.get("total_max_attempts", DEFAULT_MAX_ATTEMPTS)
    for attempt in range(1, attempts + 1):
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            return body.read()
        except _BODY_ERRORS:
            if attempt == attempts:
                raise
            time.sleep(min(0.2 * 2**attempt, 5.0))
        finally:
            body.close()
    raise AssertionError("unreachable")


def _object_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an object URI; a bare bucket or a "folder/" is refused."""
    bucket, key = split_s3_uri(uri)
    if not key or uri.endswith("/"):
        raise ValueError(f"not an S3 object URI (needs a key, no trailing '/'): {uri!r}")
    return bucket, key


def put_uri(uri: str, data: bytes) -> None:
    """Store bytes at `s3://bucket/key` (S3 writes are atomic: readers see old or new)."""
    bucket, key = _object_uri(uri)
    client = s3_client()
    with _translated(client, uri):
        client.put_object(Bucket=bucket, Key=key, Body=data)


def get_uri(uri: str) -> bytes:
    """The bytes at `s3://bucket/key`; FileNotFoundError when there is no such object."""
    bucket, key = _object_uri(uri)
    client = s3_client()
    with _translated(client, uri):
        return _get(client, bucket, key)


class S3Source:
    """A dataset root at `s3://bucket/prefix`, read through the DataSource protocol.

    No request is made until the first listing or read, so building one is cheap and
    never fails on the network. `page_size` only exists to exercise pagination in tests.
    """

    def __init__(self, uri: str, max_workers: int = 16, page_size: int | None = None) -> None:
        self.bucket, self.prefix = split_s3_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.max_workers = max_workers
        self.page_size = page_size
        self._client: Any = None
        self._sizes: dict[str, int | None] = {}  # key -> bytes, from the last listing

    def __repr__(self) -> str:
        return f"S3Source({self.uri!r}, max_workers={self.max_workers})"

    __str__ = __repr__

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client(max_pool_connections=self.max_workers)
        return self._client

    def _object_key(self, key: str) -> str:
        safe_relative_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def list_files(self) -> list[str]:
        """Every object under the prefix, relative to it, sorted; "folder/" markers skipped.

        Raises DatasetNotFoundError for a missing bucket or a prefix without objects, and
        ValueError for a key that would escape the root (`..` or a leading `/`).
        """
        client = self.client
        prefix = f"{self.prefix}/" if self.prefix else ""
        pagination = {"PageSize": self.page_size} if self.page_size else {}
        keys: list[str] = []
        self._sizes = {}
        with _translated(client, self.uri):
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, PaginationConfig=pagination
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    key = item["Key"][len(prefix) :]
                    if not key or key.endswith("/"):
                        continue
                    try:
                        safe_relative_key(key)
                    except ValueError:
                        raise ValueError(
                            f"unsafe object key under {self.uri}: {key!r} "
                            "(contains '..' or starts with '/')"
                        ) from None
                    keys.append(key)
                    self._sizes[key] = item.get("Size")
        if not keys:
            raise DatasetNotFoundError(f"no objects found under {self.uri}")
        return sorted(keys)

    def listed_size(self, key: str) -> int | None:
        """The object's size as the last listing gave it (no request)."""
        return self._sizes.get(key)

    def fingerprint(self) -> str:
        """Keys, sizes and ETags of every object under the prefix (one more listing)."""
        from yieldflow.io.fingerprint import listing_fingerprint

        prefix = f"{self.prefix}/" if self.prefix else ""
        entries = []
        with _translated(self.client, self.uri):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    entries.append((item["Key"], int(item["Size"]), str(item.get("ETag", ""))))
        return listing_fingerprint(entries)

    def read_bytes(self, key: str) -> bytes:
        """One object's content; FileNotFoundError (an OSError) when it has gone."""
        object_key = self._object_key(key)
        client = self.client
        with _translated(client, f"s3://{self.bucket}/{object_key}"):
            return _get(client, self.bucket, object_key)

    def iter_bytes(self, keys: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """(key, bytes) in the order given, downloaded by up to max_workers threads.

        Typical use: `for key, data in source.iter_bytes(source.list_files())`.

        At most 2 × max_workers downloads are submitted ahead of the consumer, so memory
        stays bounded however many keys there are; an error surfaces at its key's turn.
        Closing the iterator early cancels what has not started.
        """
        keys = list(keys)
        for key in keys:
            self._object_key(key)  # refuse unsafe keys before any download starts
        self.client  # noqa: B018  (build the client once, before the threads share it)
        for key, data in fetch_concurrently(self.read_bytes, keys, self.max_workers, capture=()):
            yield key, data  # type: ignore[misc]
