"""A dataset root on the local file system."""

from __future__ import annotations

from pathlib import Path

from yieldflow.io.source import DatasetNotFoundError, safe_relative_key


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
        from yieldflow.io.fingerprint import listing_fingerprint

        entries = []
        for key in self.list_files():
            stat = (self.root / key).stat()
            entries.append((key, stat.st_size, str(stat.st_mtime_ns)))
        return listing_fingerprint(entries)
