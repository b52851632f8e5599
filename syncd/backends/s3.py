"""Amazon S3 and S3-compatible stores, through boto3.

Small objects go up in one PutObject with Content-MD5, so S3 itself checks the
bytes and the ETag is their MD5. Larger ones stream through boto3's transfer
manager (multipart); since a multipart ETag is not an MD5, the expected MD5 is
stored as user metadata `md5` and read back by stat(). Checksum headers are
configurable because boto3 >= 1.36 sends CRC headers many compatibles reject.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import boto3
import botocore.exceptions
import botocore.session
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from syncd.backends.base import Backend, HashingReader, ObjectInfo, ResumeSlot
from syncd.errors import (
    BackendUnavailable,
    IntegrityError,
    InvalidCredentials,
    InvalidKey,
    KeyTaken,
    NotFound,
    PreconditionFailed,
    StorageError,
)

_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
# 412: the condition failed; 409: a concurrent conditional write to the key won (AWS asks to retry)
_CONDITION_FAILED = {"412", "PreconditionFailed", "409", "ConditionalRequestConflict"}
MiB = 1024 * 1024


def _is_aws(endpoint_url: str | None) -> bool:
    if not endpoint_url:
        return True
    host = urlsplit(endpoint_url).hostname or ""
    return host == "amazonaws.com" or host.endswith(".amazonaws.com")


def _session_keeping_timestamps() -> botocore.session.Session:
    """A botocore session whose responses keep timestamps as the text S3 sent.

    syncd never reads LastModified, and parsing it (dateutil, per object) is most
    of the CPU a large ListObjectsV2 costs; the AWS CLI turns it off the same way.
    """
    session = botocore.session.get_session()
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    return session


class S3Backend(Backend):
    kind = "s3"

    def __init__(
        self,
        bucket: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        addressing_style: str = "auto",
        checksum: str = "when_required",
        multipart_threshold: int = 8 * MiB,
        multipart_chunksize: int = 5 * MiB,
        list_api: str = "auto",
        ambient_credentials: bool = False,
        conditional_writes: bool = True,
    ) -> None:
        if not (access_key_id and secret_access_key) and not ambient_credentials:
            # boto3 would fall back to the host's identity (environment, ~/.aws, instance role):
            # never for a target that did not ask for it, above all a tenant's
            raise InvalidCredentials(
                f"S3 bucket {bucket!r}: no access key and secret given; nothing is sent "
                "with this host's own AWS identity unless the config says so "
                "(ambient_credentials = true)"
            )
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        # ListObjectsV2 on AWS; elsewhere the original ListObjects, which every
        # S3-compatible store serves, and serves well (rclone's rule for such providers).
        if list_api == "auto":
            list_api = "v2" if _is_aws(endpoint_url) else "v1"
        self._list_operation = {"v1": "list_objects", "v2": "list_objects_v2"}[list_api]
        config = Config(
            region_name=region or "us-east-1",
            s3={"addressing_style": addressing_style},
            request_checksum_calculation=checksum,
            response_checksum_validation=checksum,
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=32,
        )
        self._client = boto3.session.Session(botocore_session=_session_keeping_timestamps()).client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )
        self.multipart_threshold = multipart_threshold
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=multipart_chunksize, max_concurrency=4
        )
        # Bound what the transfer manager buffers from a non-seekable stream.
        self._transfer.max_in_memory_upload_chunks = 4
        # The transfer manager passes no If-None-Match/If-Match to CompleteMultipartUpload:
        # the conditions of a key's upload in progress are added to that call here.
        self.conditional_writes = conditional_writes
        self._completing: dict[str, dict[str, str]] = {}
        self._client.meta.events.register(
            "before-parameter-build.s3.CompleteMultipartUpload", self._complete_conditions
        )

    def describe(self) -> str:
        where = self.endpoint_url or "AWS"
        return f"s3://{self.bucket} at {where}"

    def check(self) -> None:
        self._call("reach the bucket", lambda: self._client.head_bucket(Bucket=self.bucket))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        pages = self._client.get_paginator(self._list_operation).paginate(Bucket=self.bucket, Prefix=prefix)
        iterator = iter(pages)
        while True:
            page = self._call("list objects", lambda: next(iterator, None))
            if page is None:
                return
            for obj in page.get("Contents", []):
                etag = obj["ETag"].strip('"')
                md5 = etag if _PLAIN_MD5.match(etag) else None
                yield ObjectInfo(obj["Key"], obj["Size"], etag, md5, modified=_when(obj.get("LastModified")))

    def stat(self, key: str) -> ObjectInfo:
        self._check_key(key)
        head = self._call(f"stat {key!r}", lambda: self._client.head_object(Bucket=self.bucket, Key=key), key=key)
        etag = head["ETag"].strip('"')
        md5 = head.get("Metadata", {}).get("md5") or (etag if _PLAIN_MD5.match(etag) else None)
        return ObjectInfo(key, head["ContentLength"], etag, md5, modified=_when(head.get("LastModified")))

    def get(self, key: str) -> AbstractContextManager[BinaryIO]:
        self._check_key(key)
        obj = self._call(f"read {key!r}", lambda: self._client.get_object(Bucket=self.bucket, Key=key), key=key)
        return closing(obj["Body"])

    def put(
        self,
        key: str,
        body: BinaryIO,
        *,
        length: int,
        content_type: str,
        md5: str | None = None,
        properties: dict[str, str] | None = None,
        resume: ResumeSlot | None = None,
        if_absent: bool = False,
        if_etag: str | None = None,
    ) -> ObjectInfo:
        self._check_key(key)
        conditions = self._conditions(key, if_absent, if_etag)
        if length < self.multipart_threshold:
            return self._put_small(key, body, length, content_type, md5, conditions)
        return self._put_large(key, body, length, content_type, md5, conditions)

    def _conditions(self, key: str, if_absent: bool, if_etag: str | None) -> dict[str, str]:
        """The write's If-None-Match / If-Match, after a look first (which spares uploading bytes
        that would be refused, and is the only check a store without conditional writes gets)."""
        if not if_absent and if_etag is None:
            return {}
        try:
            current: str | None = self.stat(key).etag
        except NotFound:
            current = None
        if if_absent and current is not None:
            raise KeyTaken(key)
        if if_etag is not None and current != if_etag:
            raise PreconditionFailed(key, if_etag, current)
        if not self.conditional_writes:
            return {}
        return {"IfNoneMatch": "*"} if if_absent else {"IfMatch": f'"{if_etag}"'}

    def _complete_conditions(self, params: dict[str, Any], **_: Any) -> None:
        """Before CompleteMultipartUpload: its conditions, and for a replace of one version a
        last look, since some stores take If-Match on PutObject only (raising here aborts it)."""
        key = params.get("Key", "")
        conditions = self._completing.get(key, {})
        params.update(conditions)
        if "IfMatch" in conditions:
            try:
                current: str | None = self._client.head_object(Bucket=self.bucket, Key=key)["ETag"].strip('"')
            except botocore.exceptions.ClientError:
                current = None  # gone (or unreadable): not the version the write may replace
            if current != conditions["IfMatch"].strip('"'):
                raise PreconditionFailed(key, conditions["IfMatch"].strip('"'), current)

    def _put_small(
        self, key: str, body: BinaryIO, length: int, content_type: str, md5: str | None, conditions: dict[str, str]
    ) -> ObjectInfo:
        reader = HashingReader(body)
        data = reader.read(length)
        digest = reader.hexdigest()
        if len(data) != length or (md5 is not None and digest != md5):
            raise IntegrityError(
                f"{key!r}: read {len(data)} of {length} bytes or MD5 differs from the expected one; nothing was written"
            )
        content_md5 = base64.b64encode(bytes.fromhex(digest)).decode()
        answer = self._call(
            f"write {key!r}",
            lambda: self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ContentMD5=content_md5,
                Metadata={"md5": digest},
                **conditions,
            ),
            refusal=_refusal(key, conditions),
        )
        return ObjectInfo(key, length, answer["ETag"].strip('"'), digest)

    def _put_large(
        self, key: str, body: BinaryIO, length: int, content_type: str, md5: str | None, conditions: dict[str, str]
    ) -> ObjectInfo:
        """Multipart, through boto3's transfer manager. The bytes are checked as the last part is
        read, before CompleteMultipartUpload: on a mismatch the read raises, the transfer manager
        aborts the upload, and whatever was at the key (the good previous version) stays as it was.
        The md5 metadata is the expected MD5, stored only with bytes that matched it."""
        reader = VerifyingReader(body, length, md5, key)
        extra: dict[str, Any] = {"ContentType": content_type}
        if md5 is not None:
            extra["Metadata"] = {"md5": md5}
        if conditions:
            self._completing[key] = conditions
        try:
            self._call(
                f"write {key!r}",
                lambda: self._client.upload_fileobj(reader, self.bucket, key, ExtraArgs=extra, Config=self._transfer),
                refusal=_refusal(key, conditions),
            )
        finally:
            self._completing.pop(key, None)
        reader.verify()  # every byte was read (a transfer manager that stopped short is caught here)
        info = self.stat(key)
        return ObjectInfo(key, info.size, info.etag, reader.hexdigest())

    def delete(self, key: str, *, etag: str | None = None) -> None:
        current = self.stat(key)  # S3 answers 204 for missing keys: look first
        if etag is not None and current.etag != etag:
            raise PreconditionFailed(key, etag, current.etag)
        self._call(f"delete {key!r}", lambda: self._client.delete_object(Bucket=self.bucket, Key=key))

    def _check_key(self, key: str) -> None:
        if not key or "\x00" in key or len(key.encode("utf-8")) > 1024:
            raise InvalidKey(key, "S3 keys must be 1-1024 bytes without NUL")

    def _call(self, what: str, fn: Any, key: str | None = None, refusal: StorageError | None = None) -> Any:
        try:
            return fn()
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if key is not None and code in _NOT_FOUND:
                raise NotFound(key) from None
            if refusal is not None and code in _CONDITION_FAILED:
                raise refusal from None
            raise BackendUnavailable(
                f"{self.describe()}: cannot {what}: {code} {error.get('Message', '')}".rstrip()
            ) from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise BackendUnavailable(f"{self.describe()}: cannot {what}: {exc}") from None


def _refusal(key: str, conditions: dict[str, str]) -> StorageError | None:
    """What a refused conditional write means: the key was taken, or another version is there."""
    if "IfNoneMatch" in conditions:
        return KeyTaken(key)
    if "IfMatch" in conditions:
        return PreconditionFailed(key, conditions["IfMatch"].strip('"'), None)
    return None


def _when(last_modified: Any) -> float | None:
    """S3's LastModified (botocore gives a datetime) as Unix seconds."""
    return last_modified.timestamp() if hasattr(last_modified, "timestamp") else None


class VerifyingReader:
    """A body read up to `length` bytes, MD5-hashed as it goes; the read that completes it (or
    finds the body short) raises IntegrityError when the bytes are not the expected ones, so a
    multipart upload is aborted before it is completed."""

    def __init__(self, raw: BinaryIO, length: int, md5: str | None, key: str) -> None:
        self._reader, self.length, self.md5, self.key = HashingReader(raw), length, md5, key

    def read(self, size: int | None = -1) -> bytes:
        left = self.length - self._reader.count
        wanted = left if size is None or size < 0 else min(size, left)
        data = self._reader.read(wanted) if wanted > 0 else b""
        if wanted > 0 and len(data) < wanted or self._reader.count == self.length:
            self.verify()
        return data

    def verify(self) -> None:
        count, digest = self._reader.count, self._reader.hexdigest()
        if count != self.length or (self.md5 is not None and digest != self.md5):
            raise IntegrityError(
                f"{self.key!r}: read {count} of {self.length} bytes, MD5 {digest} where {self.md5 or 'any'} was "
                "expected; the upload was aborted before it was completed, and the object there is as it was"
            )

    def hexdigest(self) -> str:
        return self._reader.hexdigest()
