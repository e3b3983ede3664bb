"""deployments/zombie_runs.py's wait, checked without a server (the automation itself is
tested on the real stack in test_production_stack.py)."""

from __future__ import annotations

import pytest

from tests.support.stack_fixtures import deployment_script

zombie_runs = deployment_script("zombie_runs")


def test_the_default_wait_is_three_heartbeat_intervals():
    assert zombie_runs.silent_seconds(None, 180) == 540
    assert zombie_runs.silent_seconds(None, None) is None  # heartbeats off: nothing to watch


def test_a_given_wait_longer_than_one_interval_is_kept():
    assert zombie_runs.silent_seconds(200.0, 180) == 200.0
    assert zombie_runs.silent_seconds(10.0, None) == 10.0  # heartbeats off: the user's call


@pytest.mark.parametrize(
    ("within", "reason"),
    [(0.0, "must be positive"), (-5.0, "must be positive"), (180.0, "healthy runs")],
)
def test_a_wait_that_would_crash_healthy_runs_is_refused(within, reason):
    with pytest.raises(ValueError, match=reason):
        zombie_runs.silent_seconds(within, 180)


def test_the_command_refuses_a_zero_wait_in_one_line_before_any_server_is_asked(capsys):
    with pytest.raises(SystemExit) as exit_:
        zombie_runs.main(["--within-seconds", "0"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.endswith("--within-seconds must be positive, got 0")
