"""`make demo`: syncd's main job on embedded defaults.

Starts a local CouchDB-compatible server (pouchdb-server) and an S3 server
(moto), seeds a Kazoo-shaped account whose storage plan sends voicemails and
call recordings to S3 and a fax outbox folder holding one PDF, runs
`syncd run --once`, then lists the uploaded objects, the fax job syncd wrote
into Kazoo's `faxes` database, and `syncd status`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from tests.conftest import s3_client, write_config
from tests.support import fax_kazoo as fk
from tests.support import kazoo_data as kd
from tests.support.servers import ROOT, CouchServer, S3Server


def main() -> int:
    work = ROOT / "demo-data"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    couch_server, s3_server = CouchServer(work / "couch"), S3Server(work / "s3")
    try:
        couch = CouchClient(couch_server.auth_url)
        account_id = kd.new_id()
        modb = kd.seed_account(couch, account_id)
        s3_client(s3_server.url).create_bucket(Bucket="kazoo-demo")
        couch.save(
            "system_data",
            kd.s3_storage_doc(account_id, kd.new_id(), bucket="kazoo-demo", port=s3_server.port, secret="demo-secret"),
        )
        box = kd.new_id()
        couch.save(dbnames.account_db(account_id), kd.vmbox_doc(account_id, box))
        year, month = kd.now_month()
        for i in range(3):
            couch.save(modb, kd.mailbox_message(account_id, box, kd.fake_mp3(30_000, str(i)), year, month))
        couch.save(modb, kd.call_recording(account_id, kd.fake_mp3(12_000_000, "rec"), year, month))
        print(f"seeded account {account_id}: 3 voicemails and one 12 MB call recording in {modb}")
        couch.create_db("faxes")
        outbox = work / "office" / "fax" / "outbox"
        outbox.mkdir(parents=True)
        (outbox / "+14155550100 - Acme Legal.pdf").write_bytes(fk.pdf(pages=2, seed="demo"))
        print(f"dropped a 2-page PDF into {outbox}/")
        config = write_config(
            work / "config.toml",
            couch_server.auth_url,
            accounts=(account_id,),
            extra=(
                f'[backends.office]\ntype = "local"\npath = "{work / "office"}"\n\n'
                f'[[fax.outbox]]\naccount = "{account_id}"\nbackend = "office"\nfolder = "fax/outbox"\n'
                'from_number = "+14155550199"\nsettle_seconds = 0\n'
            ),
        )
        syncd = [sys.executable, "-m", "syncd", "-c", str(config)]
        print(f"$ syncd -c {config} run --once", flush=True)
        code = subprocess.call([*syncd, "run", "--once"], cwd=ROOT)
        print("\nobjects in s3://kazoo-demo:")
        for obj in s3_client(s3_server.url).list_objects_v2(Bucket="kazoo-demo").get("Contents", []):
            print(f"  {obj['Size']:>10}  {obj['Key']}")
        print("\nfax jobs in Kazoo's faxes database (Kazoo's fax worker sends them):")
        for job in fk.jobs(couch, account_id):
            print(f"  {job['_id']}  {job['pvt_job_status']}  to {job['to_number']}  {job['pvt_pages']} page(s)")
        print(f"\n$ syncd -c {config} status", flush=True)
        subprocess.call([*syncd, "status"], cwd=ROOT)
        return code
    finally:
        couch_server.stop()
        s3_server.stop()


if __name__ == "__main__":
    sys.exit(main())
