"""Prefect flows (wiring only; the logic is in yieldflow/ and the tasks in tasks/).

scipy.special is imported here, before Prefect, torch and MLflow load: on its first import
skops (MLflow's default format for scikit-learn models) finds ~180 scipy.special functions
by scanning sys.modules in import order, once per function. With scipy.special behind
~3,400 modules that scan took 3.7 s of every pipeline run; with it near the front, 0.5 s.
Every flow module imports this package, so this runs before the flow modules' imports
(after Prefect's own in a worker, which imports Prefect first: about half the scan). A
worker loads a deployment's flow file by path, outside the package: train_model.py, which
imports nothing else from flows/, imports the package itself
(tests/test_prefect_heartbeats.py loads every entrypoint of prefect.yaml that way).
"""

import scipy.special  # noqa: F401  (import order only; see above)

# Every flow run here ends up to a second sooner (Prefect's heartbeat thread, see there).
from yieldflow.prefect_heartbeats import install as _install_prompt_heartbeats

_install_prompt_heartbeats()
