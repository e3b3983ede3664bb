"""Where a dataset lives: a local folder or (see yieldflow.s3) an S3 prefix.

Ingestion only needs to list the files of a dataset root and read their bytes, so both
kinds of store hide behind this small protocol and the validation logic never knows which
one it is reading.
"""

from __future__ import annotations

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


def safe_relative_key(key: str) -> PurePosixPath:
    """Refuse keys that would escape the dataset root (`..`, absolute paths)."""
    path = PurePosixPath(key)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"unsafe path in dataset: {key!r}")
    return path


def open_source(uri: str | Path) -> DataSource:
    """A DataSource for a local path or an `s3://bucket/prefix` URI."""
    text = str(uri)
    if text.startswith("s3://"):
        from yieldflow.s3 import S3Source  # boto3 is imported only when S3 is used

        return S3Source(text)
    return LocalSource(text)
