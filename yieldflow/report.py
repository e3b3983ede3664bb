"""The comparison report as markdown: what a person reads after a seasonal run."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from yieldflow.compare import MLP, ModelScores, best_simple_model
from yieldflow.evaluation import CvVerdict
from yieldflow.ml.patience_study import PatienceStudy

MODEL_TITLES = {
    "mlp": "MLP (PyTorch)",
    "random_forest": "Random forest",
    "linear": "Linear (ridge)",
    "mean_baseline": "Training mean",
    "farm_mean": "Farm historical mean",
}


@dataclass
class ReportInputs:
    scores: dict[str, ModelScores]
    verdict: str
    patience: PatienceStudy
    mlp_info: Mapping[str, Any]  # best_epoch, stopped_epoch, stop_reason, device, seconds
    split: Mapping[str, list[int]]
    data: Mapping[str, Any]  # the summary's "data" section
    excluded: list[dict[str, Any]]  # harvests left out, with reasons
    top_quarantine_reasons: Mapping[str, int]
    mlflow_url: str | None = None
    cv_summary: pd.DataFrame | None = None  # evaluation.summary_table
    cv_verdict: CvVerdict | None = None
    cv_folds: list[int] | None = None
    cv_seeds: int = 0
    champion_note: str | None = None
    tracking_failure: str | None = None  # MLflow failed for good during the run (why)


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def metrics_rows(scores: dict[str, ModelScores]) -> list[dict[str, Any]]:
    """One row per model; the same rows feed the markdown table and the table artifact."""
    return [
        {
            "model": name,
            "val_rmse": round(s.val["rmse"], 4),
            "test_rmse": round(s.test["rmse"], 4),
            "test_mae": round(s.test["mae"], 4),
            "test_r2": round(s.test["r2"], 4),
        }
        for name, s in scores.items()
    ]


def render_report(inputs: ReportInputs, curve_ref: str, spread_ref: str = "") -> str:
    """Markdown; ``curve_ref`` / ``spread_ref`` are the loss-curve and seed-spread images
    (data URIs or relative file names)."""
    split = inputs.split
    info = inputs.mlp_info
    simple = best_simple_model(inputs.scores)
    lines = [
        "# yieldflow seasonal report",
        "",
        f"**Verdict.** {inputs.verdict}",
        "",
        *([f"**Champion.** {inputs.champion_note}", ""] if inputs.champion_note else []),
        *_cv_lines(inputs, spread_ref),
        "## Single temporal split",
        "",
        f"Train seasons {_seasons(split['train'])}, validation {_seasons(split['val'])}, "
        f"test {_seasons(split['test'])}; {inputs.data['harvests_used']} harvests used. "
        f"The simple model to beat was chosen on validation RMSE: **{simple.name}**.",
        "",
        "## Metrics (t/ha)",
        "",
        "| model | val RMSE | test RMSE | test MAE | test R² |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in metrics_rows(inputs.scores):
        title = MODEL_TITLES.get(row["model"], row["model"])
        lines.append(
            f"| {title} | {row['val_rmse']:.3f} | {row['test_rmse']:.3f} | "
            f"{row['test_mae']:.3f} | {row['test_r2']:.3f} |"
        )
    lines += [
        "",
        "## MLP training",
        "",
        f"![MLP loss curves]({curve_ref})",
        "",
        f"Trained on **{info['device']}** in {info['seconds']:.1f} s: best epoch "
        f"{info['best_epoch']}, stopped at epoch {info['stopped_epoch']} "
        f"({info['stop_reason']}); the best weights were restored.",
        "",
        "### Why this patience",
        "",
        inputs.patience.justification(),
        "",
        "| patience | stops at epoch | best epoch | validation loss kept |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for outcome in inputs.patience.outcomes:
        mark = " (chosen)" if outcome.patience == inputs.patience.chosen else ""
        lines.append(
            f"| {outcome.patience}{mark} | {outcome.stopped_epoch} | {outcome.best_epoch} | "
            f"{outcome.best_val_loss:.4f} |"
        )
    lines += _data_quality_lines(inputs)
    if inputs.tracking_failure:
        lines += [
            "",
            f"**Not in MLflow:** MLflow failed after retries ({inputs.tracking_failure}); "
            "the later MLflow steps were skipped. This report, the summary and the trained "
            "MLP are kept in the run folder only.",
        ]
    elif inputs.mlflow_url:
        lines += ["", f"Compare the runs in MLflow: {inputs.mlflow_url}"]
    return "\n".join(lines) + "\n"


def _cv_lines(inputs: ReportInputs, spread_ref: str) -> list[str]:
    if inputs.cv_summary is None or inputs.cv_verdict is None:
        return []
    verdict = inputs.cv_verdict
    folds = ", ".join(map(str, inputs.cv_folds or []))
    lines = [
        "## Season-wise cross-validation",
        "",
        f"Each model was trained on every season before the validation season ({folds}), "
        f"the MLP with {inputs.cv_seeds} seeds, early-stopping on the last training season. "
        "Mean ± standard deviation across folds:",
        "",
        "| model | RMSE (t/ha) | MAE (t/ha) | R² | MLP seed spread (RMSE sd) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for model, row in inputs.cv_summary.iterrows():
        spread = "" if pd.isna(row["seed_rmse_std"]) else f"{row['seed_rmse_std']:.3f}"
        lines.append(
            f"| {MODEL_TITLES.get(str(model), model)} | {_pm(row, 'rmse')} | {_pm(row, 'mae')} "
            f"| {_pm(row, 'r2')} | {spread} |"
        )
    differences = ", ".join(f"{s}: {d:+.3f}" for s, d in verdict.fold_differences.items())
    lines += [
        "",
        f"Paired per-fold RMSE differences, MLP − {verdict.best_simple}: {differences} "
        f"(mean {verdict.mean_difference:+.3f} t/ha, {verdict.relative_difference:+.1%}). "
        f"Recommended model: **{verdict.recommended}**.",
        "",
    ]
    if spread_ref:
        lines += [f"![Seed spread across folds]({spread_ref})", ""]
    return lines


def _pm(row: pd.Series, metric: str) -> str:
    std = row[f"{metric}_std"]
    return f"{row[f'{metric}_mean']:.3f}" + ("" if pd.isna(std) else f" ± {std:.3f}")


def _data_quality_lines(inputs: ReportInputs) -> list[str]:
    data = inputs.data
    lines = [
        "",
        "## Data quality",
        "",
        "| rows read | accepted | quarantined | duplicates dropped | values nulled |",
        "| ---: | ---: | ---: | ---: | ---: |",
        f"| {data['rows_read']} | {data['rows_accepted']} | {data['rows_quarantined']} | "
        f"{data['duplicate_rows_dropped']} | {data['readings_nulled']} |",
    ]
    if inputs.top_quarantine_reasons:
        lines += ["", "Top quarantine reasons:", ""]
        lines += [f"- {reason}: {count}" for reason, count in inputs.top_quarantine_reasons.items()]
    if inputs.excluded:
        lines += ["", "Harvests left out of training:", ""]
        lines += [f"- {e['farm_id']} {e['season']}: {e['reason']}" for e in inputs.excluded]
    return lines


def _seasons(seasons: list[int]) -> str:
    return ", ".join(str(s) for s in seasons)


def mlp_first(scores: dict[str, ModelScores]) -> dict[str, ModelScores]:
    """Order models MLP first, then the simple ones as given."""
    return {MLP: scores[MLP], **{k: v for k, v in scores.items() if k != MLP}}
