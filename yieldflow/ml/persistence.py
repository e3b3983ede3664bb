"""A local copy of the trained MLP that needs no MLflow and no pickle to load.

Weights go through `torch.save(state_dict)` and come back with `weights_only=True`; the
architecture and the feature names sit beside them as JSON. If the tracking server is down
when the run ends, this copy is what is left, and it is safe to load.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from yieldflow.ml.mlp import YieldMLP

WEIGHTS_FILE = "mlp_state.pt"
META_FILE = "mlp.json"


def save_mlp(
    model: YieldMLP, folder: Path, feature_names: list[str], hidden_units: list[int]
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / WEIGHTS_FILE)
    meta = {"feature_names": feature_names, "hidden_units": list(hidden_units)}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2))
    return folder


def load_mlp(folder: Path) -> tuple[YieldMLP, list[str]]:
    """The model (eval mode) and the feature columns it expects, in order."""
    meta = json.loads((folder / META_FILE).read_text())
    model = YieldMLP(len(meta["feature_names"]), meta["hidden_units"])
    state = torch.load(folder / WEIGHTS_FILE, weights_only=True, map_location="cpu")
    model.load_state_dict(state)
    return model.eval(), meta["feature_names"]
