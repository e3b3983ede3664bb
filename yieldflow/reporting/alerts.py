"""What yieldflow tells people when nobody is watching: the pure part of the alerts.

Three things deserve a message after an unattended seasonal run: the run failed, the
champion model changed, or the backtest says the forecasts can no longer be trusted as
configured. Prefect automations deliver the messages (deployments/alerts.py installs
them); this module decides *whether* there is something to say and *what* it says:

- the Prefect events the pipeline emits (names, resource, payload with the message text),
- the threshold decisions on the backtest section of the run summary,
- the Jinja templates the automations render for failed and crashed flow runs.

No Prefect, no I/O here; tasks/alerts.py emits the events.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from yieldflow.config import AlertsConfig
from yieldflow.reporting.report import MODEL_TITLES

CHAMPION_MOVED = "yieldflow.champion.moved"
FORECAST_CHECK_FAILED = "yieldflow.forecast.check-failed"
MODEL_RESOURCE_PREFIX = "yieldflow.model."

# Flow runs whose failure is announced. train-model is left out on purpose: it runs only
# as seasonal-retrain's child, and its failure fails the parent with the child's error in
# the message, so one failure gives one message.
WATCHED_FLOWS = ("seasonal-yield-pipeline", "forecast", "data-check")
WATCHED_TAG = "yieldflow"  # every deployment in prefect.yaml carries it
FAILED_STATES = ("Failed", "Crashed")

# Rendered by the Prefect server (sandboxed Jinja, with `flow_run`, `deployment`, `flow` and
# the triggering `event` in scope). `ui_url` is Prefect's filter for a link to the UI.
FAILURE_SUBJECT = (
    "yieldflow: {{ deployment.name or flow.name }} run {{ flow_run.name }} "
    "{{ flow_run.state.name | lower }}"
)
FAILURE_BODY = """\
The yieldflow run {{ flow_run.name }} ({{ deployment.name or flow.name }}) ended \
{{ flow_run.state.name }}{% if flow_run.state.timestamp %} at \
{{ flow_run.state.timestamp.strftime('%Y-%m-%d %H:%M UTC') }}{% endif %}.
Error: {{ (flow_run.state.message or 'no message was recorded') | truncate(400) }}
Its log is behind the link below; once the cause is fixed, start it again with the \
Prefect UI's "Run" button, or it runs at its next schedule.
Run: {{ flow_run | ui_url }}"""

# For the events the pipeline emits, the message text travels in the event (built below).
EVENT_SUBJECT = "{{ event.payload.subject }}"
EVENT_BODY = """\
{{ event.payload.message }}
Run: {{ flow_run | ui_url }}"""


@dataclass(frozen=True)
class AlertEvent:
    """One Prefect event to emit: name, primary resource and payload (subject, message,
    and the figures behind them). Nothing in it is secret."""

    name: str
    resource: dict[str, str]
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return self.payload["subject"]


def model_resource(model_name: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"{MODEL_RESOURCE_PREFIX}{model_name}",
        "prefect.resource.name": model_name,
    }


def model_title(model: str) -> str:
    """The model as a reader knows it: 'Random forest', not 'random_forest'."""
    return MODEL_TITLES.get(model, model.replace("_", " "))


def summary_seasons(summary: Mapping[str, Any]) -> list[int]:
    """Every season the run used (train, validation and test), sorted; [] if unknown."""
    seasons = (summary.get("data") or {}).get("seasons")
    if isinstance(seasons, Mapping):
        values = [s for part in seasons.values() if isinstance(part, list) for s in part]
    elif isinstance(seasons, list):
        values = list(seasons)
    else:
        return []
    return sorted({int(s) for s in values if isinstance(s, int | float)})


def seasons_text(seasons: list[int]) -> str:
    """'2021-2024' for a run of consecutive seasons, else '2021, 2023'; '' for none."""
    if not seasons:
        return ""
    if len(seasons) > 1 and seasons == list(range(seasons[0], seasons[-1] + 1)):
        return f"{seasons[0]}-{seasons[-1]}"
    return ", ".join(str(s) for s in seasons)


def champion_moved_event(summary: Mapping[str, Any], model_name: str) -> AlertEvent | None:
    """The event for a champion alias that moved in this run; None when it did not.

    ``model_name`` (the configured registered model) stands in for a missing key: a
    summary written by another version must not fail the run after its work is done."""
    champion = summary.get("champion")
    if not isinstance(champion, Mapping) or not champion.get("alias_moved"):
        return None
    model_name = str(champion.get("model_name") or model_name)
    model = str(champion.get("model") or "unknown")
    version = champion.get("version")
    seasons = summary_seasons(summary)
    trained_on = [int(s) for s in champion.get("training_seasons") or [] if _finite(s)]
    test_seasons = _test_seasons(summary)
    test_rmse = ((summary.get("models") or {}).get(model) or {}).get("test_rmse")
    note = str(champion.get("note") or "no reason was recorded")
    reason = note.split("registered; ", 1)[-1]  # the note starts by restating the version
    on_harvests = f" on the harvests of {seasons_text(seasons)}" if seasons else ""
    error = _backtest_error(summary.get("backtest")) or (
        f" Its typical error (RMSE) on the {seasons_text(test_seasons)} harvests was "
        f"{test_rmse:.2f} t/ha."
        if _finite(test_rmse) and test_seasons
        else ""
    )
    learnt = f" It learnt from every harvest of {seasons_text(trained_on)}." if trained_on else ""
    next_season = f" (next: the {seasons[-1] + 1} season)" if seasons else ""
    which = _model_version(model_name, version)
    subject = f"yieldflow: new champion yield model, {which}"
    message = "\n".join(
        [
            f"The seasonal retrain{on_harvests} changed the model behind the yield forecasts.",
            f"Now the champion: {which} ({model_title(model)}).{learnt}{error}",
            f"Why: {reason}",
            f"Forecasts from now on{next_season} use this model; the run's report compares "
            "it with every other model.",
        ]
    )
    return AlertEvent(
        name=CHAMPION_MOVED,
        resource=model_resource(model_name),
        payload={
            "model_name": model_name,
            "version": version,
            "model": model,
            "note": champion.get("note"),
            "test_rmse_t_ha": test_rmse if _finite(test_rmse) else None,
            "seasons": seasons,
            "subject": subject,
            "message": message,
        },
    )


_CHECK_HEADLINES = {
    "interval_coverage": "intervals too narrow",
    "error_vs_simple": "worse than a simple average",
}


@dataclass(frozen=True)
class Finding:
    """One threshold crossed by the backtest."""

    check: str  # "interval_coverage" or "error_vs_simple"
    value: float
    threshold: float
    text: str  # one sentence for the message


def backtest_findings(backtest: Any, thresholds: AlertsConfig) -> list[Finding]:
    """The thresholds the backtest crosses; [] when it crosses none.

    Reads summary["backtest"] defensively: an absent section or key, or a value that is
    not a finite number, checks nothing (no alert). Coverage alerts strictly below
    ``min_interval_coverage``, the error strictly above ``max_error_vs_simple``.
    """
    if not isinstance(backtest, Mapping):
        return []
    findings = []
    seasons = seasons_text(summary_seasons({"data": {"seasons": backtest.get("seasons")}}))
    in_seasons = f" in the backtest of {seasons}" if seasons else " in the backtest"
    coverage = backtest.get("interval_coverage")
    if _finite(coverage) and coverage < thresholds.min_interval_coverage:
        nominal = backtest.get("nominal")
        interval = f"{nominal:.0%} interval" if _finite(nominal) else "forecast interval"
        covered, harvests = backtest.get("covered"), backtest.get("harvests")
        share = (
            f"{covered} of {harvests} held-out harvests ({coverage:.0%})"
            if isinstance(covered, int) and isinstance(harvests, int)
            else f"{coverage:.0%} of the held-out harvests"
        )
        findings.append(
            Finding(
                "interval_coverage",
                float(coverage),
                thresholds.min_interval_coverage,
                f"Only {share} fell inside the {interval}{in_seasons}; the alert threshold "
                f"is {thresholds.min_interval_coverage:.0%}. The forecast ranges are "
                "narrower than the real spread of yields.",
            )
        )
    relative = backtest.get("relative_error_vs_simple")
    if _finite(relative) and relative > thresholds.max_error_vs_simple:
        champion_rmse = backtest.get("champion_rmse")
        simple_rmse = backtest.get("best_simple_rmse")
        champion_nrmse = backtest.get("champion_nrmse")
        simple_nrmse = backtest.get("best_simple_nrmse")
        simple = backtest.get("best_simple_model")
        simple_text = model_title(str(simple)).lower() if simple else "best simple baseline"
        # The relative error is on NRMSE (scale-free, as the verdict); RMSE stands beside it.
        shares = (
            f"{champion_nrmse:.0%} against {simple_nrmse:.0%} of the crop's mean yield; "
            if _finite(champion_nrmse) and _finite(simple_nrmse)
            else ""
        )
        figures = (
            f" ({shares}RMSE {champion_rmse:.2f} against {simple_rmse:.2f} t/ha)"
            if _finite(champion_rmse) and _finite(simple_rmse)
            else ""
        )
        findings.append(
            Finding(
                "error_vs_simple",
                float(relative),
                thresholds.max_error_vs_simple,
                f"The model's error was {relative:.0%} worse than the {simple_text}"
                f"{figures}{in_seasons}; the alert threshold is "
                f"{thresholds.max_error_vs_simple:.0%} worse. A simple average would have "
                "forecast better.",
            )
        )
    return findings


def forecast_check_event(
    summary: Mapping[str, Any], thresholds: AlertsConfig, model_name: str
) -> AlertEvent | None:
    """The event for a backtest that crossed a threshold; None when it crossed none.

    One event (so one message) however many thresholds were crossed."""
    backtest = summary.get("backtest")
    findings = backtest_findings(backtest, thresholds)
    if not findings:
        return None
    champion = summary.get("champion")
    version = champion.get("version") if isinstance(champion, Mapping) else None
    which = _model_version(model_name, version)
    what = " and ".join(_CHECK_HEADLINES[f.check] for f in findings)
    subject = f"yieldflow: forecasts need a look ({what}), {which}"
    message = "\n".join(
        [
            f"The seasonal retrain's backtest of {which} crossed an alert threshold:",
            *(f"- {f.text}" for f in findings),
            "Treat the next forecasts with care until someone has read the run's report.",
        ]
    )
    return AlertEvent(
        name=FORECAST_CHECK_FAILED,
        resource=model_resource(model_name),
        payload={
            "model_name": model_name,
            "version": version,
            "findings": [
                {"check": f.check, "value": f.value, "threshold": f.threshold} for f in findings
            ],
            "seasons": summary_seasons({"data": {"seasons": backtest.get("seasons")}}),
            "subject": subject,
            "message": message,
        },
    )


def run_alert_events(
    summary: Mapping[str, Any], thresholds: AlertsConfig, model_name: str
) -> list[AlertEvent]:
    """Every event a finished seasonal run should emit, in order; often none."""
    events = [
        champion_moved_event(summary, model_name),
        forecast_check_event(summary, thresholds, model_name),
    ]
    return [e for e in events if e is not None]


def _backtest_error(backtest: Any) -> str:
    """The champion's error in the pipeline's own backtest, as a sentence ('' if absent)."""
    if not isinstance(backtest, Mapping):
        return ""
    rmse, nrmse = backtest.get("champion_rmse"), backtest.get("champion_nrmse")
    seasons = seasons_text(summary_seasons({"data": {"seasons": backtest.get("seasons")}}))
    if not (_finite(rmse) and _finite(nrmse) and seasons):
        return ""
    return (
        f" Forecasting {seasons} from the seasons before each, its typical error was "
        f"{rmse:.2f} t/ha ({nrmse:.0%} of the crop's mean yield)."
    )


def _model_version(model_name: str, version: Any) -> str:
    return f"{model_name} version {version}" if version is not None else model_name


def _test_seasons(summary: Mapping[str, Any]) -> list[int]:
    seasons = (summary.get("data") or {}).get("seasons")
    test = seasons.get("test") if isinstance(seasons, Mapping) else None
    return sorted(int(s) for s in test if isinstance(s, int)) if isinstance(test, list) else []


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
