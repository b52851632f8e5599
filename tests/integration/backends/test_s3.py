from __future__ import annotations

import io
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest

from syncd import config
from syncd.backends import BackendSpec, open_backend
from syncd.backends.s3 import S3Backend
from syncd.errors import BackendUnavailable, InvalidCredentials, KeyTaken
from tests.conftest import s3_client
from tests.support.backend_contract import HOSTILE_KEYS, BackendContract, put
from tests.support.servers import S3Server, free_port

pytestmark = pytest.mark.s3


def make(url: str, bucket: str, list_api: str = "auto") -> S3Backend:
    return S3Backend(
        bucket,
        access_key_id="AKIATEST",
        secret_access_key="test-secret",
        endpoint_url=url,
        addressing_style="path",
        multipart_threshold=5 * 1024 * 1024,
        multipart_chunksize=5 * 1024 * 1024,
        list_api=list_api,
    )


class TestS3Backend(BackendContract):
    @pytest.fixture(params=["v1", "v2"])
    def backend(self, s3_server: S3Server, request: pytest.FixtureRequest) -> S3Backend:
        bucket = "contract-" + secrets.token_hex(6)
        s3_client(s3_server.url).create_bucket(Bucket=bucket)
        return make(s3_server.url, bucket, list_api=request.param)

    @pytest.fixture
    def second_writer(self, s3_server: S3Server, backend: S3Backend) -> S3Backend:
        return make(s3_server.url, backend.bucket)

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


@pytest.mark.parametrize("list_api", ["v1", "v2"])
def test_listing_spans_pages(s3_server: S3Server, list_api: str) -> None:
    # 1,234 objects: two pages (S3 answers at most 1,000 keys per request), hostile names included.
    bucket = "pages-" + secrets.token_hex(6)
    client = s3_client(s3_server.url)
    client.create_bucket(Bucket=bucket)
    keys = sorted([f"db%2Fx/{i:04d}_vm.mp3" for i in range(1230)] + HOSTILE_KEYS)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))
    listed = [o.key for o in make(s3_server.url, bucket, list_api).list()]
    assert sorted(listed) == keys and len(listed) == len(keys)


@pytest.mark.parametrize(
    ("endpoint", "operation"),
    [
        (None, "list_objects_v2"),
        ("https://s3.eu-west-1.amazonaws.com", "list_objects_v2"),
        ("http://127.0.0.1:9000", "list_objects"),
        ("https://minio.example.net", "list_objects"),
    ],
)
def test_auto_list_api_is_v2_on_aws_only(endpoint: str | None, operation: str) -> None:
    assert (
        S3Backend("b", endpoint_url=endpoint, access_key_id="AKIA", secret_access_key="x")._list_operation == operation
    )


def test_no_keys_never_falls_back_to_the_hosts_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 would sign with AWS_* from the environment; syncd refuses unless told to use it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAHOST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret")
    with pytest.raises(InvalidCredentials, match="ambient_credentials"):
        S3Backend("bucket-x", endpoint_url="http://127.0.0.1:9")
    assert S3Backend("bucket-x", endpoint_url="http://127.0.0.1:9", ambient_credentials=True).bucket == "bucket-x"


@pytest.mark.parametrize("size", [4096, 6 * 1024 * 1024], ids=["small", "multipart"])
def test_conditional_writes_send_if_none_match_unless_the_config_turns_them_off(s3_server: S3Server, size: int) -> None:
    """A store that rejects If-None-Match gets none with conditional_writes = false, and syncd
    still refuses to write over a key it finds taken just before writing."""
    bucket = "cond-" + secrets.token_hex(6)
    s3_client(s3_server.url).create_bucket(Bucket=bucket)
    spec = config.parse(
        {
            "couchdb": {"url": "http://h:5984"},
            "state": {"path": "/tmp/s.db"},
            "backends": {
                "b": {"type": "s3", "bucket": bucket, "endpoint_url": s3_server.url, "addressing_style": "path"}
                | {"access_key_id": "AKIATEST", "secret_access_key": "test-secret", "conditional_writes": False}
            },
        }
    ).backends["b"]
    plain = open_backend(BackendSpec(spec.type, {**spec.spec().options, "multipart_threshold": 5 * 1024 * 1024}))
    sent: list[str] = []
    for operation in ("PutObject", "CompleteMultipartUpload"):
        plain._client.meta.events.register(  # type: ignore[attr-defined]
            f"before-call.s3.{operation}",
            lambda params, **_: sent.extend(h for h in params["headers"] if h.lower().startswith("if-")),
        )
    data = b"d" * size
    plain.put("new.pdf", io.BytesIO(data), length=size, content_type="x", if_absent=True)
    with pytest.raises(KeyTaken):
        plain.put("new.pdf", io.BytesIO(data), length=size, content_type="x", if_absent=True)
    assert sent == []
    conditional = make(s3_server.url, bucket)
    conditional._client.meta.events.register(
        "before-call.s3.*",
        lambda params, **_: sent.extend(h for h in params["headers"] if h.lower() == "if-none-match"),
    )
    conditional.put("other.pdf", io.BytesIO(data), length=size, content_type="x", if_absent=True)
    assert sent == ["If-None-Match"]
