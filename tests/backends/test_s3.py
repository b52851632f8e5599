from __future__ import annotations

import secrets

import pytest

from syncd.backends.s3 import S3Backend
from syncd.errors import BackendUnavailable
from tests.backends.contract import BackendContract, put
from tests.conftest import s3_client
from tests.support.servers import S3Server, free_port

pytestmark = pytest.mark.s3


def make(url: str, bucket: str) -> S3Backend:
    return S3Backend(bucket, access_key_id="AKIATEST", secret_access_key="test-secret", endpoint_url=url,
                     addressing_style="path", multipart_threshold=5 * 1024 * 1024,
                     multipart_chunksize=5 * 1024 * 1024)


class TestS3Backend(BackendContract):
    @pytest.fixture
    def backend(self, s3_server: S3Server) -> S3Backend:
        bucket = "contract-" + secrets.token_hex(6)
        s3_client(s3_server.url).create_bucket(Bucket=bucket)
        return make(s3_server.url, bucket)

    def test_literal_percent_2f_is_the_stored_key(self, backend: S3Backend, s3_server: S3Server) -> None:
        key = "account%2Fab%2Fcd%2Fef-202611/x.mp3"
        put(backend, key, b"v")
        keys = [o["Key"] for o in s3_client(s3_server.url).list_objects_v2(Bucket=backend.bucket)["Contents"]]
        assert keys == [key]

    def test_unreachable_server_is_backend_unavailable(self) -> None:
        backend = make(f"http://127.0.0.1:{free_port()}", "nobucket")
        with pytest.raises(BackendUnavailable, match="s3://nobucket"):
            backend.check()
        with pytest.raises(BackendUnavailable):
            put(backend, "k", b"x")

    def test_missing_bucket_is_backend_unavailable(self, s3_server: S3Server) -> None:
        with pytest.raises(BackendUnavailable, match="NoSuchBucket|404"):
            put(make(s3_server.url, "no-such-bucket-" + secrets.token_hex(3)), "k", b"x")
