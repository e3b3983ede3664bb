"""From readings to one row per farm and season (growing-window agronomy), and the
temporal split that keeps later seasons out of training."""
