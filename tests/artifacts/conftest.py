from __future__ import annotations

import uuid

import boto3
import pytest

from esper.artifacts import LocalArtifactStore, S3ArtifactStore
from tests.artifacts.s3_server import CREDENTIALS, moto_server


@pytest.fixture(scope="session")
def s3_endpoint():
    """The endpoint URL of a moto S3 server process that lives for the test session."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    """Credentials and endpoint in the environment, as a deployment would set them."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ESPER_S3_ENDPOINT", s3_endpoint)
    return s3_endpoint


@pytest.fixture
def s3_bucket(s3_env):
    """A new, empty bucket on the test S3 server."""
    name = f"esper-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_env).create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """Each backend in turn: a folder, and a prefix in a bucket of the S3 server."""
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "artifacts")
    bucket = request.getfixturevalue("s3_bucket")
    return S3ArtifactStore(bucket, "team/artifacts",
                           endpoint_url=request.getfixturevalue("s3_env"))
