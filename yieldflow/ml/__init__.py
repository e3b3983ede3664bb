"""Model code: the MLP, its training loop, early stopping and the simple baselines."""
