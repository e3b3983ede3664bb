"""Prefect task: publish the comparison report as artifacts and files."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

from yieldflow.io.workspace import RunWorkspace
from yieldflow.reporting.report import ReportInputs, metrics_rows, png_data_uri, render_report

REPORT_KEY = "yield-report"
METRICS_KEY = "model-metrics"
MLFLOW_LINK_KEY = "mlflow-runs"


@task(name="publish-report", task_run_name="publish-report")
def publish_report(inputs: ReportInputs, figures: dict[str, bytes], workspace: RunWorkspace) -> str:
    """Artifacts in Prefect (images embedded), files in the run folder; returns the file
    version of the markdown (images by relative path) for MLflow."""
    figures = {name: png for name, png in figures.items() if png}
    create_markdown_artifact(
        key=REPORT_KEY,
        markdown=render_report(inputs, {n: png_data_uri(png) for n, png in figures.items()}),
        description="MLP vs simple models: metrics, verdict, loss curves, patience, data quality",
    )
    create_table_artifact(
        key=METRICS_KEY,
        table=metrics_rows(inputs.scores),
        description="Validation and test metrics of every model (t/ha; NRMSE as a fraction)",
    )
    if inputs.mlflow_url:
        create_link_artifact(
            key=MLFLOW_LINK_KEY,
            link=inputs.mlflow_url,
            link_text="Runs in MLflow",
            description="The MLflow experiment with this pipeline run's model runs",
        )
    markdown = render_report(inputs, {name: name for name in figures})
    for name, png in figures.items():
        workspace.write_bytes(name, png)
    path = workspace.write_text("report.md", markdown)
    get_run_logger().info("Report written to %s", path)  # the verdict is logged once, by the flow
    return markdown
