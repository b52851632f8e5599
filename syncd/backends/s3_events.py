"""Deletion hints for S3 buckets, from S3 event notifications read off an SQS queue.

S3 delivers events at least once, sometimes late, twice or out of order, so an
event is only a hint: the consumer HEADs the object before acting. Messages are
deleted from the queue once handed over (the hint is then in the state DB as a
first sighting, or the object was found present).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import boto3
import botocore.exceptions
from botocore.config import Config

log = logging.getLogger("syncd.watch")


def removed_keys(body: str) -> list[tuple[str, str]]:
    """(bucket, key) of every ObjectRemoved record in one S3 notification message."""
    try:
        records = json.loads(body).get("Records") or []
    except (ValueError, AttributeError):
        return []
    out = []
    for record in records:
        if str(record.get("eventName", "")).startswith("ObjectRemoved"):
            s3 = record.get("s3") or {}
            bucket, key = (s3.get("bucket") or {}).get("name"), (s3.get("object") or {}).get("key")
            if bucket and key:
                out.append((bucket, unquote_plus(key)))  # keys arrive URL-encoded, "+" for spaces
    return out


class SqsWatcher:
    def __init__(
        self,
        queue_url: str,
        region: str | None = None,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        wait_seconds: int = 10,
    ) -> None:
        self.queue_url, self.wait_seconds = queue_url, wait_seconds
        self._client = boto3.session.Session().client(
            "sqs",
            region_name=region or "us-east-1",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=wait_seconds + 20),
        )

    def run(self, stop: threading.Event, on_gone: Callable[[str, str], None]) -> None:
        """Long-poll the queue until stop; on errors, wait and try again (never a tight loop)."""
        failures = 0
        while not stop.is_set():
            try:
                self._poll_once(on_gone)
                failures = 0
            except botocore.exceptions.BotoCoreError as exc:
                failures += 1
                log.warning(
                    "cannot read S3 events from %s (%s); listing scans still cover deletes", self.queue_url, exc
                )
                stop.wait(min(300, 5 * 2 ** min(failures, 6)))
            except botocore.exceptions.ClientError as exc:
                failures += 1
                log.warning("S3 event queue %s refused: %s", self.queue_url, exc.response.get("Error", {}))
                stop.wait(min(300, 5 * 2 ** min(failures, 6)))

    def _poll_once(self, on_gone: Callable[[str, str], None]) -> None:
        answer: dict[str, Any] = self._client.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait_seconds
        )
        for message in answer.get("Messages", []):
            for bucket, key in removed_keys(message.get("Body", "")):
                on_gone(bucket, key)
            self._client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
