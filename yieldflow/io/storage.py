"""Reading and writing datasets and run outputs wherever they live: a local folder or an
S3 prefix (yieldflow.io.s3, imported only when an S3 URI is used, so boto3 is too).

Run-scoped outputs (intermediate data passed between flows that may run on different
machines) go through `write_uri` / `read_uri`, which accept a local path or an
`s3://bucket/key` URI alike.
"""

from __future__ import annotations

import os
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

from yieldflow.io.concurrency import fetch_concurrently
from yieldflow.io.local import LocalSource
from yieldflow.io.source import DataSource, is_s3_uri, join_uri


def read_files(source: DataSource, keys: Iterable[str]) -> Iterator[tuple[str, bytes | OSError]]:
    """Every file's bytes, or the OSError that reading it raised; concurrent for sources
    that declare ``max_workers`` (S3), one by one for local folders."""
    return fetch_concurrently(source.read_bytes, keys, getattr(source, "max_workers", 1))  # type: ignore[return-value]


def open_source(uri: str | Path) -> DataSource:
    """A DataSource for a local path or an `s3://bucket/prefix` URI."""
    text = str(uri)
    if text.startswith("s3://"):
        from yieldflow.io.s3 import S3Source  # boto3 is imported only when S3 is used

        return S3Source(text)
    return LocalSource(text)


def write_uri(uri: str | Path, data: bytes) -> None:
    """Write bytes to a local path (atomically, creating folders) or to an s3:// URI.

    Readers on other machines must never see half a file, so a local write goes to a
    temporary file in the same folder first and is then renamed over the target.
    """
    if is_s3_uri(uri):
        from yieldflow.io.s3 import put_uri

        put_uri(str(uri), data)
        return
    path = Path(uri).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder (so the rename is atomic); open(..., "xb") keeps the umask's permissions.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_uri(uri: str | Path) -> bytes:
    """The bytes at a local path or s3:// URI; FileNotFoundError when there is none."""
    if is_s3_uri(uri):
        from yieldflow.io.s3 import get_uri

        return get_uri(str(uri))
    return Path(uri).expanduser().read_bytes()


def copy_tree(local_root: str | Path, destination: str, max_workers: int = 16) -> int:
    """Copy every file under a local folder to a local or s3:// destination; returns the
    number of files. Keys keep their relative paths."""
    root = Path(local_root)
    keys = LocalSource(root).list_files()
    workers = max_workers if is_s3_uri(destination) else 1

    def copy(key: str) -> bytes:
        write_uri(join_uri(destination, *key.split("/")), (root / key).read_bytes())
        return b""

    deque(fetch_concurrently(copy, keys, workers, capture=()), maxlen=0)  # run them all
    return len(keys)
