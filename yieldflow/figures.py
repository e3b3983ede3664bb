"""Figures as PNG bytes (matplotlib's Agg backend: no display needed on servers)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


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
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
