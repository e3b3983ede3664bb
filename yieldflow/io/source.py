"""What every dataset source is (the protocol and its error) and how its files are named:
keys relative to a root, and local paths or `s3://bucket/key` URIs."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Protocol


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


def safe_relative_key(key: str) -> PurePosixPath:
    """Refuse keys that would escape the dataset root (`..`, absolute paths)."""
    path = PurePosixPath(key)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"unsafe path in dataset: {key!r}")
    return path


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
