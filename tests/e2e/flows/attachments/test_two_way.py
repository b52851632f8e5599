"""Backend deletes -> Kazoo soft deletes, end to end (pouchdb-server, moto S3 + SQS, a real folder)."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
import pytest

from syncd.kazoo.couch import CouchClient
from tests.conftest import run_syncd, s3_client, write_config
from tests.support.daemons import (
    FAST,
    assert_soft_deleted_as_kazoo_does,
    audit,
    daemon,
    key_of,
    s3_setup,
    soft_deleted,
    voicemails,
    wait_for,
)
from tests.support.servers import CouchServer, S3Server

pytestmark = [pytest.mark.couchdb, pytest.mark.s3]


def test_object_deleted_in_s3_soft_deletes_the_voicemail_after_the_grace_period(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    account_id, modb = account
    config, docs = s3_setup(tmp_path, couch, couch_server, s3_server, bucket, account, 3)
    client = s3_client(s3_server.url)
    with daemon(config):
        wait_for(
            lambda: "Contents" in client.list_objects_v2(Bucket=bucket, Prefix=".syncd-marker"),
            30,
            "the location marker after the first scan",
        )
        client.delete_object(Bucket=bucket, Key=key_of(modb, docs[0]))
        took = wait_for(lambda: soft_deleted(couch, modb, docs[0]), 30, "the soft delete")
    assert took < 1 + 1.25 + 5  # grace + one (jittered) scan + slack
    assert_soft_deleted_as_kazoo_does(couch, modb, docs[0])
    assert not soft_deleted(couch, modb, docs[1]) and not soft_deleted(couch, modb, docs[2])
    (entry,) = [a for a in audit(config) if a["action"] == "soft-delete"]
    assert entry["doc_id"] == docs[0]["_id"] and entry["side"] == "kazoo" and "gone from" in entry["reason"]


def test_sqs_event_deletes_within_grace_plus_five_seconds(
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    _, modb = account
    sqs = boto3.client(
        "sqs",
        endpoint_url=s3_server.url,
        region_name="us-east-1",
        aws_access_key_id="AKIATEST",
        aws_secret_access_key="test-secret",
    )
    queue = sqs.create_queue(QueueName=f"q-{bucket}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client = s3_client(s3_server.url)
    client.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectRemoved:*"]}]},
    )
    more = (
        f'[two_way.sqs]\nqueue_url = "{queue}"\nendpoint_url = "{s3_server.url}"\n'
        'access_key_id = "AKIATEST"\nsecret_access_key = "test-secret"\nwait_seconds = 1\n'
    )
    config, docs = s3_setup(tmp_path, couch, couch_server, s3_server, bucket, account, 2, scan=300, more=more)
    # the marker comes from a first listing: run one pass the way the daemon's scan would
    assert run_syncd(config, "reconcile").returncode == 0
    with daemon(config):
        time.sleep(2)  # the daemon is up and long-polling
        client.delete_object(Bucket=bucket, Key=key_of(modb, docs[1]))
        took = wait_for(lambda: soft_deleted(couch, modb, docs[1]), 30, "the soft delete from an SQS event")
    assert took < 1 + 5
    assert not soft_deleted(couch, modb, docs[0])


def test_file_deleted_from_a_local_folder_soft_deletes_through_watchdog(
    tmp_path: Path, couch: CouchClient, couch_server: CouchServer, account: tuple[str, str]
) -> None:
    account_id, modb = account
    folder = tmp_path / "archive"
    folder.mkdir()
    flow = (
        f'[backends.archive]\ntype = "local"\npath = "{folder}"\n\n[[flows]]\nkind = "voicemail"\nbackend = "archive"\n'
    )
    docs = voicemails(couch, modb, account_id, 2)
    config = write_config(
        tmp_path / "c.toml", couch_server.auth_url, FAST.format(scan=300, more="") + flow, accounts=(account_id,)
    )
    assert run_syncd(config, "run", "--once").returncode == 0
    assert run_syncd(config, "reconcile").returncode == 0  # first listing writes the marker
    assert (folder / ".syncd-marker").is_file()
    with daemon(config):
        time.sleep(1.5)
        (folder / key_of(modb, docs[0])).unlink()
        took = wait_for(lambda: soft_deleted(couch, modb, docs[0]), 30, "the soft delete from watchdog")
    assert took < 1 + 5
    assert_soft_deleted_as_kazoo_does(couch, modb, docs[0])
    assert not soft_deleted(couch, modb, docs[1])
