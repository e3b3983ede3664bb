"""Every deployment's flow loads the way a worker loads it: by path, from prefect.yaml."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINTS = sorted(
    set(re.findall(r"entrypoint:\s*(\S+)", (REPO_ROOT / "prefect.yaml").read_text()))
)


@pytest.mark.parametrize("entrypoint", ENTRYPOINTS)
def test_a_worker_can_load_each_deployments_flow(entrypoint):
    code = (
        "from prefect.flows import Flow, load_flow_from_entrypoint\n"
        f"flow = load_flow_from_entrypoint({entrypoint!r})\n"
        "assert isinstance(flow, Flow), type(flow)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
