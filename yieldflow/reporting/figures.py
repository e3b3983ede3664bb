"""Figures as PNG bytes (matplotlib's Agg backend: no display needed on servers)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator


def loss_curve_png(
    train_loss: list[float], val_loss: list[float], best_epoch: int, stopped_epoch: int
) -> bytes:
    """Train and validation loss per epoch, with the best and stopped epochs marked."""
    epochs = range(1, len(train_loss) + 1)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(epochs, train_loss, label="train loss", color="#1f77b4")
    ax.plot(epochs, val_loss, label="validation loss", color="#ff7f0e")
    ax.axvline(best_epoch, color="#2ca02c", linestyle="--", label=f"best epoch {best_epoch}")
    ax.axvline(stopped_epoch, color="#d62728", linestyle=":", label=f"stopped {stopped_epoch}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (standardised yield)")
    ax.set_yscale("log")
    ax.set_title("MLP loss curves")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def seed_spread_png(scores: pd.DataFrame, mlp: str = "mlp") -> bytes:
    """RMSE per season-wise fold: one dot per MLP seed, one line per simple model."""
    seasons = sorted(scores["season"].unique())
    positions = {season: i for i, season in enumerate(seasons)}
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    mlp_rows = scores[scores["model"] == mlp]
    jitter = (mlp_rows["seed"].rank(method="dense") - mlp_rows["seed"].nunique() / 2) * 0.03
    ax.scatter(
        mlp_rows["season"].map(positions) + jitter,
        mlp_rows["rmse"],
        color="#1f77b4",
        zorder=3,
        label=f"MLP, {mlp_rows['seed'].nunique()} seeds",
    )
    simple = scores[scores["model"] != mlp].groupby(["model", "season"])["rmse"].mean()
    for model, series in simple.groupby(level="model"):
        values = series.droplevel("model")
        ax.plot([positions[s] for s in values.index], values.to_numpy(), marker="s", label=model)
    ax.set_xticks(range(len(seasons)), [str(s) for s in seasons])
    ax.set_xlabel("validation season (trained on all seasons before it)")
    ax.set_ylabel("RMSE (t/ha)")
    ax.set_title("Season-wise cross-validation: MLP seed spread vs simple models")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def paired_difference_png(
    differences: dict[str, dict[int, float]], training_seasons: dict[int, int]
) -> bytes:
    """MLP − simple model NRMSE per fold against the number of seasons it learnt from:
    whether more seasons are turning the answer. ``differences[model][fold season]``."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for model, by_fold in differences.items():
        folds = sorted(by_fold)
        ax.plot(
            [training_seasons[f] for f in folds],
            [100 * by_fold[f] for f in folds],
            marker="o",
            label=f"MLP − {model}",
        )
    ax.axhline(0, color="black", linewidth=1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training seasons in the fold")
    ax.set_ylabel("NRMSE difference (points of crop mean yield)")
    ax.set_title("Below zero the MLP is better; one point per season-wise fold")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
