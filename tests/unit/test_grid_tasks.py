"""How the evaluation grid becomes task runs: one per cell on a cluster, one per fold and
forecast point here, with names that say which."""

from __future__ import annotations

from yieldflow.flows.season_wise_evaluation import task_groups
from yieldflow.ml.evaluation import Fold
from yieldflow.tasks.evaluation import grid_run_name

FOLDS = [Fold(train=[2020, 2021], val=2022), Fold(train=[2020, 2021, 2022], val=2023)]
CELLS = [
    (point, fold, model, seed)
    for point in (0.5, 1.0)
    for fold in FOLDS
    for model, seed in [("mlp", 42), ("mlp", 43), ("ridge", 42)]
]


def test_locally_a_fold_and_point_is_one_task_with_every_cell():
    groups = task_groups(CELLS, one_per_cell=False)
    assert [(p, f.val) for p, f, _ in groups] == [
        (0.5, 2022),
        (0.5, 2023),
        (1.0, 2022),
        (1.0, 2023),
    ]
    assert all(cells == [("mlp", 42), ("mlp", 43), ("ridge", 42)] for *_, cells in groups)


def test_on_a_cluster_every_cell_is_its_own_task():
    groups = task_groups(CELLS, one_per_cell=True)
    assert len(groups) == len(CELLS)
    assert [(p, f, cells[0][0], cells[0][1]) for p, f, cells in groups] == CELLS


def test_names_say_the_fold_and_the_cell_when_there_is_one():
    assert grid_run_name(1.0, 2023, [("mlp", 42), ("ridge", 42)]) == "cross-validate-season-2023"
    assert grid_run_name(0.5, 2023, [("ridge", 42)]) == "backtest-50pct-season-2023-ridge"
    assert grid_run_name(1.0, 2023, [("mlp", 43)]) == "cross-validate-season-2023-mlp-seed-43"
