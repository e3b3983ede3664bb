"""The comparison report as markdown: what a person reads after a seasonal run."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from yieldflow.ml.backtest import MEANS, PointResult, point_label
from yieldflow.ml.compare import MLP, ModelScores, best_simple_model
from yieldflow.ml.evaluation import CrossValidation
from yieldflow.ml.patience_study import PatienceStudy

MODEL_TITLES = {
    "mlp": "MLP (PyTorch)",
    "random_forest": "Random forest",
    "linear": "Linear (ridge)",
    "mean_baseline": "Training mean",
    "farm_mean": "Farm historical mean",
    "crop_mean": "Crop mean",
    "farm_crop_mean": "Farm × crop mean",
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
    cv: CrossValidation | None = None
    backtest: Mapping[float, PointResult] | None = None
    champion: Mapping[str, Any] | None = None  # what register_champion did
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
            **({"test_nrmse": round(s.test["nrmse"], 4)} if "nrmse" in s.test else {}),
        }
        for name, s in scores.items()
    ]


def render_report(inputs: ReportInputs, images: Mapping[str, str]) -> str:
    """Markdown; ``images`` maps each figure's file name (loss_curve.png, seed_spread.png,
    paired_difference.png) to how the report refers to it (data URI or file name)."""
    split = inputs.split
    info = inputs.mlp_info
    simple = best_simple_model(inputs.scores)
    curve_ref = images.get("loss_curve.png", "loss_curve.png")
    lines = [
        "# yieldflow seasonal report",
        "",
        f"**Verdict.** {inputs.verdict}",
        "",
        *([f"**Champion.** {inputs.champion['note']}", ""] if inputs.champion else []),
        *_backtest_lines(inputs),
        *_cv_lines(inputs, images),
        "## Single temporal split",
        "",
        f"Train seasons {_seasons(split['train'])}, validation {_seasons(split['val'])}, "
        f"test {_seasons(split['test'])}; {inputs.data['harvests_used']} harvests used. "
        f"The simple model to beat was chosen on validation RMSE: **{simple.name}**.",
        "",
        "## Metrics",
        "",
        "| model | val RMSE (t/ha) | test RMSE (t/ha) | test MAE (t/ha) | test R² | test NRMSE |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in metrics_rows(inputs.scores):
        title = MODEL_TITLES.get(row["model"], row["model"])
        nrmse = row.get("test_nrmse")
        lines.append(
            f"| {title} | {row['val_rmse']:.3f} | {row['test_rmse']:.3f} | "
            f"{row['test_mae']:.3f} | {row['test_r2']:.3f} | "
            f"{'' if nrmse is None else f'{nrmse:.1%}'} |"
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


def _backtest_lines(inputs: ReportInputs) -> list[str]:
    if not inputs.backtest:
        return []
    harvest = inputs.backtest[max(inputs.backtest)]
    lines = [
        "## Forecasts: how good, and how early",
        "",
        f"**Intervals.** {harvest.coverage.sentence()}",
        "",
        "The pipeline forecast each of its latest seasons from the seasons before it, with "
        "every season's features cut at the point a forecast would be made. NRMSE is the "
        "error as a share of the crop's mean yield.",
        "",
        "| forecast at | model used | its NRMSE | farm × crop mean | crop mean | RMSE (t/ha) "
        "| 80% interval covered | interval (× prediction) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for point, result in inputs.backtest.items():
        means = [f"{result.error_of(m):.1%}" if m in result.errors.index else "" for m in MEANS]
        coverage = result.coverage
        covered = f"{coverage.covered}/{coverage.harvests}" if coverage.harvests else "n/a"
        interval = result.interval
        lines.append(
            f"| {point_label(point)} | {MODEL_TITLES.get(result.chosen, result.chosen)} | "
            f"{result.error_of(result.chosen):.1%} | {' | '.join(means)} | "
            f"{result.error_of(result.chosen, 'rmse'):.2f} | {covered} | "
            f"{interval.low_ratio:.2f}–{interval.high_ratio:.2f} |"
        )
    lines += [""]
    for point, result in inputs.backtest.items():
        lines.append(f"- {point_label(point)}: {result.reason}.")
    if any(not r.interval.guaranteed for r in inputs.backtest.values()):
        lines += [
            "",
            "Too few out-of-fold residuals for split-conformal's guarantee at some points: "
            "their intervals are the widest residuals seen, and likely too narrow.",
        ]
    lines += [""]
    return lines


def _cv_lines(inputs: ReportInputs, images: Mapping[str, str]) -> list[str]:
    cv = inputs.cv
    if cv is None:
        return []
    verdict = cv.verdict
    folds = ", ".join(str(f.val) for f in cv.folds)
    lines = [
        "## Season-wise cross-validation",
        "",
        f"Each model learnt from every season before the validation season ({folds}); the "
        f"MLP with {len(cv.seeds)} seeds, early-stopping on the last of those seasons and "
        "then refitted on all of them for the chosen epochs, so every model learnt from the "
        f"same harvests. The MLP learns {_target(inputs.mlp_info.get('target'))}. "
        "Mean ± standard deviation across folds; skill is 1 − NRMSE / NRMSE "
        "of the crop mean (above 0: the sensors add something beyond knowing the crop).",
        "",
        "| model | NRMSE | RMSE (t/ha) | MAE (t/ha) | MAPE | R² | skill vs crop mean "
        "| MLP seed spread (RMSE sd) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, row in cv.summary.iterrows():
        spread = "" if pd.isna(row["seed_rmse_std"]) else f"{row['seed_rmse_std']:.3f}"
        skill = "" if pd.isna(row["skill_vs_crop_mean"]) else f"{row['skill_vs_crop_mean']:+.2f}"
        lines.append(
            f"| {MODEL_TITLES.get(str(model), model)} | {_pm(row, 'nrmse', pct=True)} | "
            f"{_pm(row, 'rmse')} | {_pm(row, 'mae')} | {_pm(row, 'mape', pct=True)} | "
            f"{_pm(row, 'r2')} | {skill} | {spread} |"
        )
    lines += [
        "",
        "### The MLP against every simple model",
        "",
        "Per-fold NRMSE difference, MLP − simple model, with a 90% interval "
        f"({next(iter(verdict.comparisons.values())).method}). Better or worse only when "
        "the interval excludes zero.",
        "",
        "| simple model | mean difference | 90% interval | RMSE difference (t/ha) | verdict |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    for name, c in verdict.comparisons.items():
        lines.append(
            f"| {MODEL_TITLES.get(name, name)} | {100 * c.mean:+.1f} pts | "
            f"{100 * c.low:+.1f} to {100 * c.high:+.1f} pts | {c.mean_rmse:+.2f} | {c.label} |"
        )
    lines += ["", f"Recommended model: **{verdict.recommended}**.", ""]
    if images.get("paired_difference.png"):
        lines += [
            f"![Paired difference by training seasons]({images['paired_difference.png']})",
            "",
        ]
    lines += _crop_lines(cv)
    if images.get("seed_spread.png"):
        lines += [f"![Seed spread across folds]({images['seed_spread.png']})", ""]
    return lines


def _target(target: str | None) -> str:
    if target == "log":
        return (
            "log yield, so a 10% miss costs the same on soybean as on potato (chosen on the "
            "season-wise folds: README, 'Choices and why')"
        )
    return "yield in t/ha"


def _crop_lines(cv: CrossValidation) -> list[str]:
    crops = sorted(cv.crops.index.get_level_values("crop").unique())
    lines = [
        "### Per crop",
        "",
        "NRMSE (RMSE in t/ha) over every fold; the crop's mean yield in the header.",
        "",
        "| model | "
        + " | ".join(
            f"{c} ({cv.crops.xs(c, level='crop')['mean_yield'].iloc[0]:.1f} t/ha)" for c in crops
        )
        + " |",
        "| --- |" + " ---: |" * len(crops),
    ]
    for model in cv.summary.index:
        cells = []
        for crop in crops:
            row = cv.crops.loc[(model, crop)]
            cells.append(f"{row['nrmse']:.1%} ({row['rmse']:.2f})")
        lines.append(f"| {MODEL_TITLES.get(str(model), model)} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _pm(row: pd.Series, metric: str, pct: bool = False) -> str:
    mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
    if pct:
        return f"{mean:.1%}" + ("" if pd.isna(std) else f" ± {std:.1%}")
    return f"{mean:.3f}" + ("" if pd.isna(std) else f" ± {std:.3f}")


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
