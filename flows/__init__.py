"""Prefect flows: wiring only; the logic is in yieldflow/ and the tasks in tasks/."""

# Before Prefect, torch and MLflow: skops (MLflow's scikit-learn format) scans sys.modules
# in import order for scipy.special's functions, seconds per run when scipy comes late.
import scipy.special  # noqa: F401
