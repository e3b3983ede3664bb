from yieldflow.tracking import redact_uri


def test_credentials_in_uris_are_removed():
    assert redact_uri("https://alice:s3cr3t@mlflow.example.org:5000/api") == (
        "https://***@mlflow.example.org:5000/api"
    )
    assert "s3cr3t" not in redact_uri("postgresql://u:s3cr3t@db/mlflow")
    assert redact_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert redact_uri("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"
