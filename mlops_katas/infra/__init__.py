"""Real infrastructure for the tests: Docker, kind, MLflow, HTTP and SMTP servers."""
