from tests.artifacts.conftest import s3_bucket, s3_endpoint, s3_env  # noqa: F401  (fixtures)
