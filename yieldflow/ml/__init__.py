"""The models and how they are judged: the MLP and its training, the simple baselines, the
season-wise evaluation and verdict, backtests, intervals and the forecaster."""
