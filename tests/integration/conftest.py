"""Fixtures of the integration tests."""

# The production stack (servers, pools, deployments, workers) and one seasonal-retrain run:
# session-scoped, shared by test_production_stack.py and test_browser.py.
from tests.support.stack_fixtures import seasonal_run, stack

__all__ = ["seasonal_run", "stack"]
