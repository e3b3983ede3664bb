"""Run-scoped output folders: two runs never write into each other's files."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunWorkspace:
    root: Path  # <output_dir>/<pipeline_run_id>

    @classmethod
    def create(cls, output_dir: str | Path, run_id: str) -> RunWorkspace:
        safe_id = "".join(ch for ch in run_id if ch.isalnum() or ch in "-_")
        if not safe_id:
            raise ValueError(f"unusable run id {run_id!r}")
        root = Path(output_dir).expanduser().resolve() / safe_id
        root.mkdir(parents=True, exist_ok=True)
        return cls(root)

    def path(self, name: str) -> Path:
        """A file inside the workspace; names derived from data cannot escape it."""
        target = (self.root / name).resolve()
        if not target.is_relative_to(self.root):
            raise ValueError(f"path {name!r} would leave the run folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_text(self, name: str, text: str) -> Path:
        return _atomic_write(self.path(name), text.encode())

    def write_bytes(self, name: str, content: bytes) -> Path:
        return _atomic_write(self.path(name), content)

    def write_json(self, name: str, payload: Any) -> Path:
        return self.write_text(name, json.dumps(payload, indent=2, sort_keys=True, default=str))


def _atomic_write(path: Path, content: bytes) -> Path:
    """Write beside, then rename: a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(content)
    partial.replace(path)
    return path
