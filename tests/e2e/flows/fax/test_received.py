"""Received faxes out: an inbound fax (MODB `fax`, folder inbox, a TIFF from
FreeSWITCH) routed by the account's storage plan (`modb.types.fax`) is uploaded
as a PDF under the plan's name, and also as the TIFF when asked. Real
pouchdb-server and moto; syncd run --once."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from syncd.kazoo.couch import CouchClient
from tests.conftest import run_syncd, s3_client, write_config
from tests.e2e.flows.attachments.test_upload import kazoo_key
from tests.support import fax_kazoo as fk
from tests.support import kazoo_data as kd
from tests.support.servers import CouchServer, S3Server

pytestmark = [pytest.mark.couchdb, pytest.mark.s3]


@pytest.mark.parametrize("received_format", ["pdf", "both"])
def test_a_received_tiff_fax_is_uploaded_as_a_pdf_under_the_plans_name(
    received_format: str,
    tmp_path: Path,
    couch: CouchClient,
    couch_server: CouchServer,
    s3_server: S3Server,
    bucket: str,
    account: tuple[str, str],
) -> None:
    import pypdf

    account_id, modb = account
    couch.save(
        "system_data",
        kd.s3_storage_doc(account_id, kd.new_id(), bucket=bucket, port=s3_server.port, modb_types=("fax",)),
    )
    tiff = fk.tiff(pages=2)
    fax = kd.inbound_fax(account_id, tiff, *kd.now_month())
    kd.write_as_kazoo(couch, modb, fax)
    config = write_config(
        tmp_path / "c.toml",
        couch_server.auth_url,
        accounts=(account_id,),
        extra=f'[fax]\nreceived_format = "{received_format}"\n',
    )
    result = run_syncd(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    tiff_key = kazoo_key(modb, fax)
    assert tiff_key.endswith(".tiff")
    pdf_key = tiff_key[: -len(".tiff")] + ".pdf"
    client = s3_client(s3_server.url)
    stored = client.get_object(Bucket=bucket, Key=pdf_key)
    assert stored["ContentType"] == "application/pdf"
    document = pypdf.PdfReader(io.BytesIO(stored["Body"].read()))
    assert len(document.pages) == 2
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == ({pdf_key, tiff_key} if received_format == "both" else {pdf_key})
    if received_format == "both":
        assert client.get_object(Bucket=bucket, Key=tiff_key)["Body"].read() == tiff
    again = run_syncd(config, "run", "--once")  # recorded as synced: nothing converted or sent again
    assert again.returncode == 0 and "0 uploaded" in again.stderr, again.stderr
    # Two-way compares the PDF with the MD5 recorded when it was made, not with the TIFF's length or digest.
    check = run_syncd(config, "reconcile", "--dry-run", "--json")
    assert check.returncode == 0, check.stderr
    plan = json.loads(check.stdout)
    assert plan["actions"] == [] and plan["refused"] == {}, plan
