from yieldflow.champion import decide_champion


def test_first_model_becomes_champion():
    assert decide_champion("linear", 2.0, None).move


def test_worse_model_does_not_move_the_alias():
    decision = decide_champion("mlp", 2.5, 2.0)
    assert not decision.move and "worse" in decision.reason


def test_equal_or_better_model_moves_the_alias():
    assert decide_champion("linear", 2.0, 2.0).move
    assert decide_champion("linear", 1.9, 2.0).move
