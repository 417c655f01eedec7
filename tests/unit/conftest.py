import pytest

from localcloud.settings import REGION


@pytest.fixture(autouse=True)
def _in_process_aws_only(monkeypatch):
    """Unit tests talk to moto in-process, never to a server another tier pointed boto3 at."""
    for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture(autouse=True)
def _metrics(monkeypatch):
    """The metrics' namespace, as template.yaml sets it (a handler flushes its metrics when it
    returns); none left by other tests' requests."""
    from recsys.observability import metrics

    monkeypatch.setattr(metrics.provider, "namespace", "Recommendations")
    metrics.clear_metrics()
