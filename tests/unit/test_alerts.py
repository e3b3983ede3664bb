"""The pure parts of the alerts, without a server: which events a run emits, the threshold
decisions on the backtest, the message texts and the automations deployments/alerts.py
installs. The messages delivered through a real Prefect server: test_alerts_stack.py."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from types import SimpleNamespace
from uuid import uuid4

import pytest
from jinja2 import ChainableUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import ValidationError

from tests.support.data import backtest
from tests.support.stack_fixtures import deployment_script
from yieldflow.config import AlertsConfig, PipelineConfig
from yieldflow.reporting.alerts import (
    CHAMPION_MOVED,
    EVENT_BODY,
    EVENT_SUBJECT,
    FAILURE_BODY,
    FAILURE_SUBJECT,
    FORECAST_CHECK_FAILED,
    backtest_findings,
    champion_moved_event,
    run_alert_events,
)

NOTE = (
    "yieldflow-yield version 3 (random_forest) registered; random_forest becomes champion: "
    "test RMSE 0.812 t/ha is at least as good as the current champion's 0.900 t/ha."
)


def summary(*, moved: bool = True, backtest: dict | None = None) -> dict:
    """A run summary as the pipeline writes it (only the keys the alerts read)."""
    result = {
        "data": {"seasons": {"train": [2021, 2022], "val": [2023], "test": [2024]}},
        "models": {"random_forest": {"test_rmse": 0.8123}},
        "champion": {
            "model_name": "yieldflow-yield",
            "version": 3,
            "model": "random_forest",
            "alias_moved": moved,
            "note": NOTE if moved else "champion kept: worse",
        },
    }
    if backtest is not None:
        result["backtest"] = backtest
    return result


def test_a_moved_champion_gives_one_event_with_model_version_metric_and_seasons():
    event = champion_moved_event(summary(), "yieldflow-yield")
    assert event.name == CHAMPION_MOVED == "yieldflow.champion.moved"
    assert event.resource == {
        "prefect.resource.id": "yieldflow.model.yieldflow-yield",
        "prefect.resource.name": "yieldflow-yield",
    }
    payload = event.payload
    assert (payload["model_name"], payload["version"], payload["model"]) == (
        "yieldflow-yield",
        3,
        "random_forest",
    )
    assert payload["note"] == NOTE and payload["seasons"] == [2021, 2022, 2023, 2024]
    assert payload["test_rmse_t_ha"] == pytest.approx(0.8123)
    assert payload["subject"] == "yieldflow: new champion yield model, yieldflow-yield version 3"
    assert payload["message"].splitlines() == [
        "The seasonal retrain on the harvests of 2021-2024 changed the model behind the yield "
        "forecasts.",
        "Now the champion: yieldflow-yield version 3 (Random forest). Its typical error (RMSE) "
        "on the 2024 harvests was 0.81 t/ha.",
        "Why: random_forest becomes champion: test RMSE 0.812 t/ha is at least as good as the "
        "current champion's 0.900 t/ha.",
        "Forecasts from now on (next: the 2025 season) use this model; the run's report "
        "compares it with every other model.",
    ]


def test_the_champion_message_gives_its_training_seasons_and_backtest_error():
    data = summary(
        backtest=backtest(champion_rmse=3.0, champion_nrmse=0.168, seasons=[2020, 2021, 2022])
    )
    data["champion"]["training_seasons"] = [2005, 2006, 2007, 2008]
    event = champion_moved_event(data, "yieldflow-yield")
    assert event.payload["message"].splitlines()[1] == (
        "Now the champion: yieldflow-yield version 3 (Random forest). It learnt from every "
        "harvest of 2005-2008. Forecasting 2020-2022 from the seasons before each, its "
        "typical error was 3.00 t/ha (17% of the crop's mean yield)."
    )


def test_the_error_check_states_the_scale_free_shares_it_was_decided_on():
    (finding,) = backtest_findings(
        backtest(
            relative_error_vs_simple=0.25,
            champion_nrmse=0.20,
            best_simple_nrmse=0.16,
            champion_rmse=1.2,
            best_simple_rmse=1.0,
        ),
        AlertsConfig(max_error_vs_simple=0.10),
    )
    assert "(20% against 16% of the crop's mean yield; RMSE 1.20 against 1.00 t/ha)" in (
        finding.text
    )


@pytest.mark.parametrize("champion", [None, "kept"])
def test_no_champion_event_when_the_alias_did_not_move(champion):
    data = summary(moved=False)
    if champion is None:
        data["champion"] = None  # registration turned off, or MLflow down
    assert champion_moved_event(data, "yieldflow-yield") is None


def test_a_backtest_within_its_thresholds_or_absent_alerts_nothing():
    config = AlertsConfig()
    assert backtest_findings(backtest(), config) == []
    assert backtest_findings(None, config) == []  # no backtest section (yet)
    assert backtest_findings({}, config) == []
    assert run_alert_events(summary(moved=False, backtest=backtest()), config, "m") == []
    assert run_alert_events(summary(moved=False), config, "m") == []


@pytest.mark.parametrize(
    "broken",
    [
        {"interval_coverage": None, "relative_error_vs_simple": None},
        {"interval_coverage": math.nan, "relative_error_vs_simple": math.inf},
        {"interval_coverage": "0.1", "relative_error_vs_simple": "2"},
        {"interval_coverage": False, "relative_error_vs_simple": True},
    ],
)
def test_values_that_are_not_finite_numbers_check_nothing(broken):
    assert backtest_findings(backtest(**broken), AlertsConfig()) == []


def test_coverage_alerts_strictly_below_its_threshold():
    config = AlertsConfig(min_interval_coverage=0.7)
    assert backtest_findings(backtest(interval_coverage=0.7), config) == []
    (finding,) = backtest_findings(backtest(interval_coverage=0.45, covered=9), config)
    assert (finding.check, finding.value, finding.threshold) == ("interval_coverage", 0.45, 0.7)
    assert finding.text == (
        "Only 9 of 20 held-out harvests (45%) fell inside the 80% interval in the backtest of "
        "2023-2024; the alert threshold is 70%. The forecast ranges are narrower than the "
        "real spread of yields."
    )
    assert backtest_findings(
        backtest(interval_coverage=0.99), AlertsConfig(min_interval_coverage=1)
    )
    assert (
        backtest_findings(backtest(interval_coverage=0.0), AlertsConfig(min_interval_coverage=0))
        == []
    )


def test_error_against_the_simple_baselines_alerts_strictly_above_its_threshold():
    config = AlertsConfig(max_error_vs_simple=0.10)
    assert backtest_findings(backtest(relative_error_vs_simple=0.10), config) == []
    (finding,) = backtest_findings(
        backtest(relative_error_vs_simple=0.25, champion_rmse=1.1, best_simple_rmse=0.88), config
    )
    assert finding.check == "error_vs_simple"
    assert finding.text == (
        "The model's error was 25% worse than the farm historical mean (RMSE 1.10 against "
        "0.88 t/ha) in the backtest of 2023-2024; the alert threshold is 10% worse. A simple "
        "average would have forecast better."
    )


def test_both_thresholds_crossed_make_one_event_naming_both():
    data = summary(
        moved=False,
        backtest=backtest(
            interval_coverage=0.45,
            covered=9,
            relative_error_vs_simple=0.25,
            champion_rmse=1.1,
            best_simple_rmse=0.88,
        ),
    )
    (event,) = run_alert_events(data, AlertsConfig(), "yieldflow-yield")
    assert event.name == FORECAST_CHECK_FAILED == "yieldflow.forecast.check-failed"
    assert event.resource["prefect.resource.id"] == "yieldflow.model.yieldflow-yield"
    assert [f["check"] for f in event.payload["findings"]] == [
        "interval_coverage",
        "error_vs_simple",
    ]
    assert event.payload["seasons"] == [2023, 2024]
    assert event.subject == (
        "yieldflow: forecasts need a look (intervals too narrow and worse than a simple "
        "average), yieldflow-yield version 3"
    )
    lines = event.payload["message"].splitlines()
    assert lines[0] == (
        "The seasonal retrain's backtest of yieldflow-yield version 3 crossed an alert threshold:"
    )
    assert lines[1].startswith("- Only 9 of 20") and lines[2].startswith("- The model's error")
    assert lines[3] == "Treat the next forecasts with care until someone has read the run's report."


def test_a_champion_entry_missing_keys_still_gives_a_message_not_an_error():
    data = summary()
    data["champion"] = {"alias_moved": True}
    event = champion_moved_event(data, "configured-name")
    assert event.resource["prefect.resource.id"] == "yieldflow.model.configured-name"
    assert event.subject == "yieldflow: new champion yield model, configured-name"


def test_the_backtest_section_as_issue_20_writes_it_is_read_and_extra_keys_ignored():
    """The shape of summary["backtest"] on main (yieldflow.ml.backtest.health plus the points):
    coverage None when no season could be calibrated, and keys the alerts do not use."""
    section = {
        "nominal": 0.8,
        "interval_coverage": None,
        "covered": 0,
        "harvests": 0,
        "seasons": [],
        "per_season": {},
        "model": "farm_crop_mean",
        "champion_rmse": 1.2,
        "champion_nrmse": 0.2,
        "best_simple_model": "crop_mean",
        "best_simple_rmse": 1.0,
        "best_simple_nrmse": 0.16,
        "relative_error_vs_simple": 0.25,
        "points": [{"point": 1.0, "model": "farm_crop_mean"}],
    }
    (finding,) = backtest_findings(section, AlertsConfig())  # no coverage measured: no alert
    assert finding.check == "error_vs_simple"
    assert finding.text.startswith("The model's error was 25% worse than the crop mean")
    assert finding.text.endswith(
        "in the backtest; the alert threshold is 10% worse. A simple "
        "average would have forecast better."
    )


def test_a_run_that_moves_the_champion_and_fails_the_check_emits_both_in_order():
    data = summary(backtest=backtest(interval_coverage=0.5))
    names = [e.name for e in run_alert_events(data, AlertsConfig(), "yieldflow-yield")]
    assert names == [CHAMPION_MOVED, FORECAST_CHECK_FAILED]


def test_payloads_hold_nothing_but_plain_json_and_no_uri():
    import json

    data = summary(backtest=backtest(interval_coverage=0.5))
    data["mlflow"] = {"tracking_uri": "http://user:secret@host"}
    for event in run_alert_events(data, AlertsConfig(), "yieldflow-yield"):
        text = json.dumps(event.payload)  # raises on anything not plain JSON
        assert "secret" not in text and "://" not in text


@pytest.mark.parametrize(
    ("field", "value"),
    [("min_interval_coverage", 1.01), ("min_interval_coverage", -0.1), ("max_error_vs_simple", -1)],
)
def test_thresholds_out_of_bounds_are_refused(field, value):
    with pytest.raises(ValidationError):
        AlertsConfig(**{field: value})


def test_the_thresholds_are_part_of_the_pipeline_config():
    config = PipelineConfig.model_validate({"alerts": {"min_interval_coverage": 0.8}})
    assert config.alerts.min_interval_coverage == 0.8
    assert config.alerts.max_error_vs_simple == 0.10


def _render(template: str, **context) -> str:
    """The server's sandbox (prefect.server.utilities.user_templates), with ui_url as a stub."""
    environment = ImmutableSandboxedEnvironment(undefined=ChainableUndefined)
    environment.filters["ui_url"] = lambda obj: f"http://ui/runs/flow-run/{obj.id}"
    return environment.from_string(template).render(**context)


def test_the_failure_message_names_the_run_its_error_and_links_to_it():
    from prefect.server.utilities.user_templates import validate_user_template

    for template in (FAILURE_SUBJECT, FAILURE_BODY, EVENT_SUBJECT, EVENT_BODY):
        validate_user_template(template)  # what the server checks when it stores them
    state = SimpleNamespace(
        name="Failed",
        message="Flow run encountered an exception: DatasetNotConfiguredError: no dataset",
        timestamp=datetime(2026, 11, 15, 5, 0, 3, tzinfo=UTC),
    )
    flow_run = SimpleNamespace(id="abc", name="seasonal-20261115-050001", state=state)
    context = {
        "flow_run": flow_run,
        "deployment": SimpleNamespace(name="seasonal-retrain"),
        "flow": SimpleNamespace(name="seasonal-yield-pipeline"),
    }
    assert _render(FAILURE_SUBJECT, **context) == (
        "yieldflow: seasonal-retrain run seasonal-20261115-050001 failed"
    )
    assert _render(FAILURE_BODY, **context).splitlines() == [
        "The yieldflow run seasonal-20261115-050001 (seasonal-retrain) ended Failed at "
        "2026-11-15 05:00 UTC.",
        "Error: Flow run encountered an exception: DatasetNotConfiguredError: no dataset",
        "Its log is behind the link below; once the cause is fixed, start it again with "
        'the Prefect UI\'s "Run" button, or it runs at its next schedule.',
        "Run: http://ui/runs/flow-run/abc",
    ]
    state.message = None  # a crash may leave none
    assert "Error: no message was recorded" in _render(FAILURE_BODY, **context)


def test_event_messages_are_the_payload_text_and_a_link():
    event = champion_moved_event(summary(), "yieldflow-yield")
    body = _render(EVENT_BODY, event=event, flow_run=SimpleNamespace(id="r1"))
    assert body == event.payload["message"] + "\nRun: http://ui/runs/flow-run/r1"
    assert _render(EVENT_SUBJECT, event=event) == event.subject


def test_the_installer_builds_three_automations_on_the_block_it_is_given():
    alerts = deployment_script("alerts")
    block = uuid4()
    failed, champion, check = alerts.alert_automations(block)
    assert [a.name for a in (failed, champion, check)] == list(alerts.NAMES)
    for automation in (failed, champion, check):
        (action,) = automation.actions
        assert action.type == "send-notification" and action.block_document_id == block
        assert automation.trigger.posture == "Reactive" and automation.trigger.threshold == 1
    assert failed.trigger.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    tag, flows = failed.trigger.match_related
    assert tag.root == {"prefect.resource.id": "prefect.tag.yieldflow"}
    assert set(flows.root["prefect.resource.name"]) == {
        "seasonal-yield-pipeline",
        "forecast",
        "data-check",
    }  # not train-model: its failure fails its parent, whose message carries the error
    assert champion.trigger.expect == {CHAMPION_MOVED}
    assert check.trigger.expect == {FORECAST_CHECK_FAILED}
    for automation in (champion, check):
        assert automation.trigger.match.root == {"prefect.resource.id": "yieldflow.model.*"}
