"""The champion gate: the same cross-validated metric as the recommendation, a stated
tolerance, and no automatic promotion across a schema change."""

from yieldflow.tracking.champion import Incumbent, decide_champion, forecaster_schema

SCHEMA = forecaster_schema(["gdd_c_days", "crop"], [0.5, 1.0], "log")
CV = {"random_forest": 0.200, "farm_crop_mean": 0.203, "mlp": 0.210, "linear": 0.250}


def test_first_model_becomes_champion():
    assert decide_champion("random_forest", CV, None, SCHEMA).move


def test_a_newer_fit_of_the_same_recipe_takes_over():
    decision = decide_champion("random_forest", CV, Incumbent(3, "random_forest", SCHEMA), SCHEMA)
    assert decision.move and "20.0% against 20.0%" in decision.reason


def test_within_the_tolerance_the_candidate_moves_beyond_it_the_champion_stays():
    # 0.203 is 1.5% worse than 0.200: inside the 2% tolerance.
    assert decide_champion("farm_crop_mean", CV, Incumbent(3, "random_forest", SCHEMA), SCHEMA).move
    # 0.210 is 5% worse: the champion's recipe stays.
    kept = decide_champion("mlp", CV, Incumbent(3, "random_forest", SCHEMA), SCHEMA)
    assert not kept.move and "worse" in kept.reason and "tolerance 2%" in kept.reason
    # With a 10% tolerance the same candidate moves.
    assert decide_champion("mlp", CV, Incumbent(3, "random_forest", SCHEMA), SCHEMA, 0.10).move


def test_a_schema_change_is_reported_not_promoted():
    other = forecaster_schema(["gdd_c_days", "crop", "new_sensor"], [0.5, 1.0], "log")
    decision = decide_champion("random_forest", CV, Incumbent(3, "random_forest", other), SCHEMA)
    assert not decision.move and decision.schema_changed
    assert "takes other inputs" in decision.reason
    legacy = decide_champion("random_forest", CV, Incumbent(1, "linear", ""), SCHEMA)
    assert not legacy.move and "unrecorded" in legacy.reason


def test_a_champion_whose_model_was_not_evaluated_is_kept():
    decision = decide_champion("random_forest", CV, Incumbent(3, "gbm", SCHEMA), SCHEMA)
    assert not decision.move and "not cross-validated" in decision.reason
