"""The verdict says "better" or "worse" only when its interval excludes zero."""

import numpy as np
import pandas as pd

from yieldflow.ml.verdict import BETTER, UNCLEAR, WORSE, judge, seasons_to_settle, t_interval


def fold_metric(per_model: dict[str, list[float]]) -> pd.DataFrame:
    seasons = list(range(2020, 2020 + len(next(iter(per_model.values())))))
    return pd.DataFrame.from_dict(per_model, orient="index", columns=seasons)


def noisy_models(folds: int, mlp_offset: float, seed: int = 0) -> pd.DataFrame:
    """NRMSE per fold of an MLP and two simple models around a shared season effect."""
    rng = np.random.default_rng(seed)
    season = rng.uniform(0.15, 0.35, folds)  # some seasons are harder for every model
    return fold_metric(
        {
            "mlp": list(season + mlp_offset + rng.normal(0, 0.02, folds)),
            "random_forest": list(season + rng.normal(0, 0.02, folds)),
            "crop_mean": list(season + 0.1 + rng.normal(0, 0.02, folds)),
        }
    )


def test_two_identical_models_on_one_or_two_noisy_folds_are_no_clear_difference():
    for folds in (1, 2):
        nrmse = noisy_models(folds, mlp_offset=0.0)
        scaled = pd.DataFrame(
            {
                "model": ["mlp"] * 12 + ["random_forest"] * 12 + ["crop_mean"] * 12,
                "season": 2020,
                "scaled_error": np.random.default_rng(1).normal(0, 0.25, 36),
            }
        )
        verdict = judge(nrmse, nrmse * 10, scaled if folds == 1 else None)
        assert verdict.label == UNCLEAR
        assert verdict.recommended == "random_forest"
        sentence = verdict.sentence()
        assert "No clear difference" in sentence and "90% interval" in sentence
        assert "evidence is thin" in sentence


def test_a_clearly_better_mlp_over_many_folds_is_better_with_its_interval():
    verdict = judge(noisy_models(12, mlp_offset=-0.05), noisy_models(12, -0.05) * 10)
    assert verdict.label == BETTER and verdict.recommended == "mlp"
    main = verdict.comparisons["random_forest"]
    assert main.high < 0 and f"{100 * main.low:+.1f}" in verdict.sentence()
    assert not verdict.thin


def test_a_clearly_worse_mlp_is_worse_and_the_simple_model_is_recommended():
    verdict = judge(noisy_models(10, mlp_offset=0.08), noisy_models(10, 0.08) * 10)
    assert verdict.label == WORSE and verdict.recommended == "random_forest"
    assert verdict.sentence().startswith("The MLP is worse than the simpler")


def test_the_mlp_must_beat_every_simple_model_not_the_best_by_hindsight():
    # Better than the crop mean on every fold, but not clearly better than the forest.
    nrmse = noisy_models(10, mlp_offset=0.0)
    verdict = judge(nrmse, nrmse)
    assert verdict.comparisons["crop_mean"].label == BETTER
    assert verdict.label == UNCLEAR


def test_t_interval_matches_the_textbook_case():
    low, high = t_interval(np.array([1.0, 2.0, 3.0]), level=0.9)
    # mean 2, sd 1, t(0.95, 2) = 2.919986
    assert np.isclose(low, 2 - 2.919986 / np.sqrt(3), atol=1e-5)
    assert np.isclose(high, 2 + 2.919986 / np.sqrt(3), atol=1e-5)


def test_seasons_to_settle_grows_with_the_spread():
    small = seasons_to_settle(np.array([0.05, 0.07]))
    large = seasons_to_settle(np.array([0.02, 0.10]))
    assert small is not None and large is not None and small < large
    assert seasons_to_settle(np.array([0.05, -0.05])) is None  # mean 0: nothing to settle
