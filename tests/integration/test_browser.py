"""What a person sees: the Prefect UI and the MLflow UI in a real browser.

Debian's Chromium (/usr/bin/chromium, driven by Playwright, offline) against the session's
production stack and its one seasonal-retrain run (tests/stack_fixtures.py): the run's
report, metrics table and MLflow link in the Prefect UI, the deployment's run form, and the
model runs with their metrics in the MLflow UI. Every page is saved as a full-page PNG in a
temporary folder the tests print (`screenshots: ...`); with YIELDFLOW_UPDATE_SCREENSHOTS=1
the set is also copied to docs/screenshots/ (the README's pictures).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from tests.support.browser import (
    chromium,
    copy_screenshots,
    go,
    image_loaded,
    missing_browser,
    open_page,
    screenshot,
)
from tests.support.stack_fixtures import EXPERIMENT, REPO, without_credentials
from yieldflow.config import PipelineConfig, SplitConfig, TrainingConfig

MODELS = ("mlp", "random_forest", "linear", "mean_baseline")
METRICS = ("val_rmse", "test_rmse", "test_mae", "test_r2")
REPORT_KEY, METRICS_KEY, LINK_KEY = "yield-report", "model-metrics", "mlflow-runs"
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
DOCS_SET = (
    "prefect-report.png",
    "prefect-metrics.png",
    "prefect-run-form.png",
    "mlflow-runs.png",
    "prefect-run-graph.png",
    "prefect-run-form-refuses-learning_rate.png",
)


@dataclass
class Ui:
    """The browser and what the pages are about: the seasonal run, its artifacts, its runs."""

    context: Any  # playwright BrowserContext
    prefect: str  # http://127.0.0.1:<port>, the UI of `prefect server start`
    mlflow: str  # http://127.0.0.1:<port>
    flow_run_id: str
    flow_run_name: str
    artifact_ids: dict[str, str]  # artifact key -> id
    deployment_id: str  # seasonal-retrain
    experiment_id: str
    pipeline_run_name: str  # the MLflow parent run of the seasonal run
    model_runs: dict[str, Any]  # model name -> MLflow run (nested under the parent)
    task_runs: dict[str, str]  # task run name -> id, of the seasonal flow run and subflows
    folder: Path
    shots: list[Path]


def ui_facts(seasonal_run: tuple[Any, ...]) -> dict[str, Any]:
    """Ids and names of the seasonal run, read from the Prefect and MLflow APIs."""
    from mlflow.tracking import MlflowClient

    runs, artifacts, _, deployments, env, _ = seasonal_run
    parent = next(r for r in runs if deployments.get(r.deployment_id) == "seasonal-retrain")
    artifact_ids = {a.key: str(a.id) for a in artifacts if a.key and a.flow_run_id == parent.id}
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(EXPERIMENT)
    tagged = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`yieldflow.pipeline_run_id` = '{parent.id}'",
    )
    pipeline = next(r for r in tagged if "mlflow.parentRunId" not in r.data.tags)
    model_runs = {
        r.info.run_name: r
        for r in tagged
        if r.data.tags.get("mlflow.parentRunId") == pipeline.info.run_id
        and r.info.run_name in MODELS
    }
    return {
        "task_runs": _task_runs(env["PREFECT_API_URL"], str(parent.id)),
        "prefect": env["PREFECT_API_URL"].removesuffix("/api"),
        "mlflow": without_credentials(env["MLFLOW_TRACKING_URI"]).rstrip("/"),
        "flow_run_id": str(parent.id),
        "flow_run_name": parent.name,
        "artifact_ids": artifact_ids,
        "deployment_id": str(next(i for i, n in deployments.items() if n == "seasonal-retrain")),
        "experiment_id": experiment.experiment_id,
        "pipeline_run_name": pipeline.info.run_name,
        "model_runs": model_runs,
    }


def _prefect_api(api_url: str, path: str, body: dict[str, Any]) -> Any:
    import httpx

    response = httpx.post(f"{api_url}{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def _task_runs(api_url: str, flow_run_id: str) -> dict[str, str]:
    """Task runs of the flow run and of its subflow runs (the season-wise evaluation)."""
    children = _prefect_api(
        api_url,
        "/flow_runs/filter",
        {"flow_runs": {"parent_flow_run_id": {"any_": [flow_run_id]}}},
    )
    ids = [flow_run_id, *(child["id"] for child in children)]
    runs = _prefect_api(
        api_url, "/task_runs/filter", {"flow_runs": {"id": {"any_": ids}}, "limit": 200}
    )
    return {run["name"]: run["id"] for run in runs}


def _runs_due_since(api_url: str, deployment_id: str, since: datetime) -> int:
    """Flow runs of the deployment due to start from ``since`` on (a form's "Now" run);
    the cron schedules' runs are months ahead and not counted."""
    window = {"after_": since.isoformat(), "before_": (since + timedelta(hours=1)).isoformat()}
    return _prefect_api(
        api_url,
        "/flow_runs/count",
        {
            "deployments": {"id": {"any_": [deployment_id]}},
            "flow_runs": {"expected_start_time": window},
        },
    )


@pytest.fixture(scope="module")
def ui(seasonal_run, tmp_path_factory, request) -> Iterator[Ui]:
    reason = missing_browser()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI installs both: a skip there would hide a broken setup
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("screenshots")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nscreenshots: {folder}")
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        ui = Ui(context=context, folder=folder, shots=[], **ui_facts(seasonal_run))
        yield ui
    if os.environ.get("YIELDFLOW_UPDATE_SCREENSHOTS") == "1":
        copy_screenshots([p for p in ui.shots if p.name in DOCS_SET], DOCS_SCREENSHOTS)


def _shot(ui: Ui, page, name: str) -> None:
    ui.shots.append(screenshot(page, ui.folder, name))


def test_prefect_run_page_shows_the_report_with_its_loss_curve(ui: Ui):
    from playwright.sync_api import expect

    page = open_page(ui.context, f"{ui.prefect}/runs/flow-run/{ui.flow_run_id}")
    expect(page.get_by_text(ui.flow_run_name, exact=True).first).to_be_visible()
    page.get_by_role("tablist").get_by_text("Artifacts", exact=True).click()
    tab = page.locator("#artifacts-content")
    cards = {key: tab.get_by_role("link").filter(has_text=key) for key in ui.artifact_ids}
    for key in (REPORT_KEY, METRICS_KEY, LINK_KEY):
        expect(cards[key]).to_be_visible()

    cards[REPORT_KEY].click()
    expect(page).to_have_url(re.compile(f"/artifacts/artifact/{ui.artifact_ids[REPORT_KEY]}$"))
    expect(page.get_by_role("heading", name="yieldflow seasonal report")).to_be_visible()
    expect(page.get_by_role("heading", name="Metrics", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Forecasts: how good, and how early")).to_be_visible()
    curve = page.get_by_role("img", name="MLP loss curves")
    expect(curve).to_be_visible()
    curve.evaluate("img => img.decode().catch(() => null)")
    loaded = image_loaded(page, "img[alt='MLP loss curves']")
    assert loaded["naturalWidth"] > 0 and loaded["naturalHeight"] > 0, loaded
    assert str(loaded["src"]).startswith("data:image/png;base64,"), loaded
    # Every picture of the report renders, not only the loss curve.
    broken = page.locator(".markdown-renderer img").evaluate_all(
        "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)"
    )
    assert broken == [], f"images not rendered: {broken}"
    _shot(ui, page, "prefect-report.png")


def test_prefect_metrics_table_has_one_row_per_model(ui: Ui):
    from playwright.sync_api import expect

    page = open_page(ui.context, f"{ui.prefect}/artifacts/artifact/{ui.artifact_ids[METRICS_KEY]}")
    table = page.locator("table").filter(has_text="test_rmse")
    expect(table).to_be_visible()
    for column in ("model", *METRICS):
        expect(table.get_by_role("columnheader", name=column, exact=True)).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(len(MODELS))
    rows = [
        [cell.strip() for cell in row.locator("td").all_inner_texts()]
        for row in table.locator("tbody tr").all()
    ]
    assert sorted(row[0] for row in rows) == sorted(MODELS), rows
    for row in rows:
        assert all(math.isfinite(float(value)) for value in row[1:]), row
    _shot(ui, page, "prefect-metrics.png")


def test_prefect_mlflow_link_artifact_points_at_the_experiment(ui: Ui):
    from playwright.sync_api import expect

    page = open_page(ui.context, f"{ui.prefect}/artifacts/artifact/{ui.artifact_ids[LINK_KEY]}")
    link = page.get_by_role("link", name="Runs in MLflow")
    expect(link).to_be_visible()
    href = link.get_attribute("href") or ""
    assert href.startswith(f"{ui.mlflow}/#/experiments/{ui.experiment_id}"), href
    _shot(ui, page, "prefect-mlflow-link.png")


def _form_fields(model: type[BaseModel]) -> Iterator[tuple[str, str | None]]:
    """(title, description) of every field of the run configuration, nested ones included."""
    for field in model.model_fields.values():
        yield field.title or "", field.description
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _form_fields(annotation)


def test_deployment_run_form_lists_every_parameter_with_title_and_description(ui: Ui):
    from playwright.sync_api import expect

    page = open_page(ui.context, f"{ui.prefect}/deployments/deployment/{ui.deployment_id}/run")
    patience = TrainingConfig.model_fields["patience"]
    expect(page.get_by_text(f"{patience.title} (Optional)", exact=True)).to_be_visible()
    fields = list(_form_fields(PipelineConfig))
    assert len(fields) > 20
    for title, description in fields:
        label = page.get_by_text(re.compile(rf"^{re.escape(title)}( \(Optional\))?$"))
        expect(label.first, f"form field {title!r}").to_be_visible()
        if description:
            text = page.get_by_text(description, exact=True)
            expect(text.first, f"description of {title!r}").to_be_visible()
    # The two the issue names, spelled out: title, description and the default in the input.
    for name in ("patience", "learning_rate"):
        field = TrainingConfig.model_fields[name]
        expect(page.get_by_text(f"{field.title} (Optional)", exact=True)).to_be_visible()
        expect(page.get_by_text(field.description, exact=True)).to_be_visible()
    _shot(ui, page, "prefect-run-form.png")


def test_mlflow_lists_the_model_runs_with_their_metrics(ui: Ui):
    from playwright.sync_api import expect

    runs = f"{ui.mlflow}/#/experiments/{ui.experiment_id}/runs"
    page = open_page(ui.context, runs, viewport=(1760, 1000))  # room for the metric columns
    expect(page.get_by_role("heading", name="Training runs")).to_be_visible()
    parent = page.get_by_role("link", name=ui.pipeline_run_name, exact=True)
    expect(parent).to_be_visible()
    assistant = page.get_by_role("button", name="Close")  # the MLflow Assistant side panel
    if assistant.is_visible():
        assistant.click()

    # The model runs are nested under the pipeline run: expand it, as a person would.
    page.get_by_role("row").filter(has=parent).get_by_role("button").first.click()
    for model in MODELS:
        expect(page.get_by_role("link", name=model, exact=True)).to_be_visible()

    page.get_by_role("button", name="Columns", exact=True).click()
    chooser = page.get_by_role("dialog")
    search = chooser.get_by_placeholder("Search columns")
    for metric in METRICS:
        search.fill(metric)
        chooser.get_by_text(metric, exact=True).click()
        expect(page.get_by_role("columnheader", name=metric, exact=True).first).to_be_visible()
    page.keyboard.press("Escape")
    expect(chooser).to_be_hidden()

    for model, run in ui.model_runs.items():
        row = page.locator(f"[role=row][row-id='{run.info.run_id}']")
        for metric in METRICS:
            cell = row.locator(f"[col-id='metrics.`{metric}`']")
            expect(cell).to_be_visible()
            shown = float(cell.inner_text().strip())
            assert math.isclose(shown, run.data.metrics[metric], rel_tol=1e-6), (model, metric)
    assert sorted(ui.model_runs) == sorted(MODELS)
    _shot(ui, page, "mlflow-runs.png")


def test_mlflow_link_from_prefect_opens_the_training_runs(ui: Ui):
    from playwright.sync_api import expect

    page = open_page(ui.context, f"{ui.prefect}/artifacts/artifact/{ui.artifact_ids[LINK_KEY]}")
    href = page.get_by_role("link", name="Runs in MLflow").get_attribute("href") or ""
    go(page, href)
    try:
        expect(page.get_by_role("link", name=ui.pipeline_run_name, exact=True)).to_be_visible(
            timeout=20_000
        )
        assert "/runs" in page.url, page.url
    finally:
        _shot(ui, page, "mlflow-from-link.png")  # what a person lands on


def _form_input(page, title: str):
    """The input of the run-form field titled ``title`` (the innermost labelled block)."""
    label = page.get_by_text(f"{title} (Optional)", exact=True)
    return page.locator(".p-label").filter(has=label).last.locator("input").first


@pytest.mark.parametrize(
    ("section", "model", "field", "value"),
    [
        ("training", TrainingConfig, "learning_rate", "-0.5"),
        ("split", SplitConfig, "test_seasons", "11"),
    ],
)
def test_run_form_refuses_out_of_bounds_values(ui: Ui, section, model, field, value):
    from playwright.sync_api import expect

    since = datetime.now(UTC) - timedelta(seconds=5)
    page = open_page(ui.context, f"{ui.prefect}/deployments/deployment/{ui.deployment_id}/run")
    box = _form_input(page, model.model_fields[field].title)
    expect(box).to_be_visible()
    box.fill(value)
    page.get_by_role("button", name="Submit").click()
    refusal = page.get_by_text(
        re.compile(rf"Validation failed for field 'config\.{section}\.{field}'")
    )
    expect(refusal.first).to_be_visible()
    _shot(ui, page, f"prefect-run-form-refuses-{field}.png")
    assert page.url.endswith(f"/deployments/deployment/{ui.deployment_id}/run"), page.url
    assert _runs_due_since(f"{ui.prefect}/api", ui.deployment_id, since) == 0  # none started


def test_runs_are_named_for_their_season_and_model(ui: Ui):
    from playwright.sync_api import expect

    latest = re.fullmatch(r"seasonal-(\d{4})-\d{8}-\d{6}", ui.flow_run_name)
    assert latest, ui.flow_run_name  # the flow run names the latest season
    folds = sorted(n for n in ui.task_runs if n.startswith("cross-validate-season-"))
    assert folds and folds[-1] == f"cross-validate-season-{latest.group(1)}", folds
    assert "log-random_forest-to-mlflow" in ui.task_runs, sorted(ui.task_runs)
    page = open_page(ui.context, f"{ui.prefect}/runs/task-run/{ui.task_runs[folds[-1]]}")
    expect(page.get_by_text(folds[-1], exact=True).first).to_be_visible()
    # The grid's task runs belong to the season-wise evaluation subflow run.
    expect(page.get_by_text("season-wise-evaluation", exact=True).first).to_be_visible()
    _shot(ui, page, "prefect-task-run.png")
    # The run's graph draws the task names and progress artifacts on a canvas: a picture.
    page = open_page(ui.context, f"{ui.prefect}/runs/flow-run/{ui.flow_run_id}")
    expect(page.get_by_text(ui.flow_run_name, exact=True).first).to_be_visible()
    page.wait_for_timeout(2_000)  # the canvas draws after the data arrives
    ui.shots.append(screenshot(page, ui.folder, "prefect-run-graph.png"))
