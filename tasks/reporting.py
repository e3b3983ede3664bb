"""Prefect task: publish the comparison report as artifacts and files."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

from yieldflow.report import ReportInputs, metrics_rows, png_data_uri, render_report
from yieldflow.workspace import RunWorkspace

REPORT_KEY = "yield-report"
METRICS_KEY = "model-metrics"
MLFLOW_LINK_KEY = "mlflow-runs"


@task(name="publish-report", task_run_name="publish-report")
def publish_report(
    inputs: ReportInputs, curve_png: bytes, spread_png: bytes, workspace: RunWorkspace
) -> str:
    """Artifacts in Prefect (image embedded), files in the run folder; returns the file
    version of the markdown (image by relative path) for MLflow."""
    create_markdown_artifact(
        key=REPORT_KEY,
        markdown=render_report(
            inputs, png_data_uri(curve_png), png_data_uri(spread_png) if spread_png else ""
        ),
        description="MLP vs simple models: metrics, verdict, loss curves, patience, data quality",
    )
    create_table_artifact(
        key=METRICS_KEY,
        table=metrics_rows(inputs.scores),
        description="Validation and test metrics of every model (t/ha)",
    )
    if inputs.mlflow_url:
        create_link_artifact(
            key=MLFLOW_LINK_KEY,
            link=inputs.mlflow_url,
            link_text="Runs in MLflow",
            description="The MLflow experiment with this pipeline run's model runs",
        )
    markdown = render_report(inputs, "loss_curve.png", "seed_spread.png" if spread_png else "")
    workspace.write_bytes("loss_curve.png", curve_png)
    if spread_png:
        workspace.write_bytes("seed_spread.png", spread_png)
    path = workspace.write_text("report.md", markdown)
    get_run_logger().info("Report written to %s", path)  # the verdict is logged once, by the flow
    return markdown
