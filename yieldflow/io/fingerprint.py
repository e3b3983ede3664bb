"""Cache keys: what the data is and what code processed it.

A re-run after a crash may reuse ingestion and features only when both the dataset files
and the code that read them are unchanged.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Iterable


def code_fingerprint(module_names: Iterable[str]) -> str:
    """Hash of the source of the given modules (the logic, not just the task wrapper)."""
    digest = hashlib.sha256()
    for name in module_names:
        digest.update(inspect.getsource(importlib.import_module(name)).encode())
    return digest.hexdigest()[:16]


def listing_fingerprint(entries: Iterable[tuple[str, int, str]]) -> str:
    """Hash of (key, size, version) per file: mtime locally, ETag on S3."""
    digest = hashlib.sha256()
    for key, size, version in sorted(entries):
        digest.update(f"{key}\0{size}\0{version}\n".encode())
    return digest.hexdigest()[:16]
