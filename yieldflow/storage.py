"""Where a dataset lives: a local folder or (see yieldflow.s3) an S3 prefix.

Ingestion only needs to list the files of a dataset root and read their bytes, so both
kinds of store hide behind this small protocol and the validation logic never knows which
one it is reading.

Run-scoped outputs (intermediate data passed between flows that may run on different
machines) go through `write_uri` / `read_uri` / `join_uri`, which accept a local path or an
`s3://bucket/key` URI alike. boto3 is imported (via yieldflow.s3) only when an S3 URI is used.
"""

from __future__ import annotations

import os
import re
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Protocol

from yieldflow.concurrency import ordered_map


class DatasetNotFoundError(Exception):
    """The dataset root does not exist or cannot be read (one-line message for the user)."""


class DataSource(Protocol):
    uri: str

    def list_files(self) -> list[str]:
        """Every file under the root, as POSIX paths relative to it, sorted."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """The content of one file named by a key from list_files()."""
        ...

    def fingerprint(self) -> str:
        """Changes whenever any file is added, removed or rewritten (a cache key)."""
        ...

    # Optional: `local_path(key) -> str`, where a reader that opens files itself (DuckDB)
    # finds the file. Sources without it (S3) are downloaded to a temporary folder.


class LocalSource:
    """A dataset root on the local file system."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)
        if not self.root.is_dir():
            raise DatasetNotFoundError(f"dataset folder not found: {self.root}")

    def list_files(self) -> list[str]:
        return sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )

    def read_bytes(self, key: str) -> bytes:
        return (self.root / safe_relative_key(key)).read_bytes()

    def local_path(self, key: str) -> str:
        """Where the file is, for readers that open it themselves (DuckDB)."""
        return str(self.root / safe_relative_key(key))

    def fingerprint(self) -> str:
        from yieldflow.fingerprint import listing_fingerprint

        entries = []
        for key in self.list_files():
            stat = (self.root / key).stat()
            entries.append((key, stat.st_size, str(stat.st_mtime_ns)))
        return listing_fingerprint(entries)


def safe_relative_key(key: str) -> PurePosixPath:
    """Refuse keys that would escape the dataset root (`..`, absolute paths)."""
    path = PurePosixPath(key)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"unsafe path in dataset: {key!r}")
    return path


def fetch_concurrently(
    read: Callable[[str], bytes],
    keys: Iterable[str],
    max_workers: int,
    capture: tuple[type[BaseException], ...] = (OSError,),
) -> Iterator[tuple[str, bytes | BaseException]]:
    """(key, bytes) in the order given, read by up to max_workers threads.

    At most 2 × max_workers reads run ahead of the consumer, so memory stays bounded
    however many keys there are. An error of a ``capture`` type is yielded in place of
    the bytes (one bad file must not stop the others); any other error surfaces at its
    key's turn. Closing the iterator early cancels what has not started.
    """

    def fetch(key: str) -> tuple[str, bytes | BaseException]:
        try:
            return key, read(key)
        except capture as error:
            return key, error

    workers = max_workers if max_workers > 1 else 0  # one: plain sequential reads
    return ordered_map(fetch, keys, workers, ahead=2 * max_workers, name="yieldflow-read")


def read_files(source: DataSource, keys: Iterable[str]) -> Iterator[tuple[str, bytes | OSError]]:
    """Every file's bytes, or the OSError that reading it raised; concurrent for sources
    that declare ``max_workers`` (S3), one by one for local folders."""
    return fetch_concurrently(source.read_bytes, keys, getattr(source, "max_workers", 1))  # type: ignore[return-value]


def open_source(uri: str | Path) -> DataSource:
    """A DataSource for a local path or an `s3://bucket/prefix` URI."""
    text = str(uri)
    if text.startswith("s3://"):
        from yieldflow.s3 import S3Source  # boto3 is imported only when S3 is used

        return S3Source(text)
    return LocalSource(text)


S3_SCHEME = "s3://"
# Bucket names: letters, digits, dots, hyphens (underscores and upper case only for legacy
# buckets). This also refuses "user:secret@bucket" forms, so a URI cannot carry credentials
# into messages.
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$")


def is_s3_uri(uri: str | Path) -> bool:
    return str(uri).startswith(S3_SCHEME)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> ("bucket", "some/prefix"), with the key checked.

    The key part is returned without leading or trailing slashes ("" for a whole bucket);
    `..` segments are refused so a URI cannot point outside the intended prefix.
    """
    if not is_s3_uri(uri):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(f"invalid S3 bucket name in URI: {bucket!r}")
    key = key.strip("/")
    if key:
        safe_relative_key(key)
    return bucket, key


def join_uri(base: str | Path, *parts: str) -> str:
    """Join relative parts onto a local path or an s3:// URI; parts with `..` are refused."""
    clean = [safe_relative_key(part).as_posix() for part in parts if part not in ("", ".")]
    if is_s3_uri(base):
        bucket, key = split_s3_uri(str(base))
        return S3_SCHEME + "/".join([bucket, *([key] if key else []), *clean])
    return str(Path(base).joinpath(*clean))


def write_uri(uri: str | Path, data: bytes) -> None:
    """Write bytes to a local path (atomically, creating folders) or to an s3:// URI.

    Readers on other machines must never see half a file, so a local write goes to a
    temporary file in the same folder first and is then renamed over the target.
    """
    if is_s3_uri(uri):
        from yieldflow.s3 import put_uri

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
        from yieldflow.s3 import get_uri

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
