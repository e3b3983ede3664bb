"""MLflow: pipeline and model runs, logged models, and the champion and its gate."""
