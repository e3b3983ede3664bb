"""flows/__init__.py imports scipy.special before Prefect, torch and MLflow load: skops
scans sys.modules in import order for ~180 scipy.special functions when it is first
imported, so the later scipy.special comes, the longer every pipeline run takes."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import sys
{imports}
order = list(sys.modules)
late = [m for m in ("prefect", "torch", "mlflow") if m in order]
assert late, "nothing heavy was imported"
first = order.index("scipy.special")
assert all(first < order.index(m) for m in late), (first, {{m: order.index(m) for m in late}})
"""


@pytest.mark.parametrize(
    "imports", ["import yieldflow.flows.seasonal_pipeline", "import yieldflow.flows.forecast"]
)
def test_scipy_special_is_imported_before_the_heavy_frameworks(imports):
    code = CHECK.format(imports=imports)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
