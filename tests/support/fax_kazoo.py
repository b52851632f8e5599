"""Kazoo's fax side for tests: PDFs and TIFFs to drop, the jobs syncd wrote, and
a stand-in for Kazoo's fax worker that ends a job the way fax_worker does
(docs/kazoo.md §6.1: status and tx_result set, then the doc moved to the MODB
of its creation month as YYYYMM-<id> with folder "outbox", and deleted from faxes)."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

import pypdf
import requests

from syncd.kazoo import dbnames
from syncd.kazoo.couch import CouchClient
from tests.support import kazoo_data as kd

FAXES = "faxes"


def pdf(pages: int = 1, seed: str = "") -> bytes:
    """A real PDF of blank letter pages; seed makes the bytes differ."""
    writer = pypdf.PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    writer.add_metadata({"/Title": f"syncd test {seed}"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def tiff(pages: int = 2) -> bytes:
    """A fax-like TIFF: 1-bit pages, CCITT group 4, as FreeSWITCH stores received faxes."""
    from PIL import Image, ImageDraw

    images = []
    for n in range(pages):
        image = Image.new("1", (1728, 2200), 1)
        ImageDraw.Draw(image).rectangle((100, 100 + 50 * n, 900, 200 + 50 * n), fill=0)
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, "TIFF", save_all=True, append_images=images[1:], compression="group4")
    return out.getvalue()


def jobs(couch: CouchClient, account_id: str) -> list[dict[str, Any]]:
    """Every fax job of the account: queued in `faxes`, or moved to a MODB when it ended."""
    found = [d for d in couch.all_docs(FAXES) if d.get("pvt_account_id") == account_id]
    year, month = kd.now_month()
    modb = dbnames.modb(account_id, year, month)
    found += [d for d in couch.all_docs(modb) if d.get("pvt_type") == "fax" and d.get("folder") == "outbox"]
    return found


def end_job(couch: CouchClient, couch_url: str, job_id: str, success: bool, pages: int = 1, move: bool = True) -> None:
    """What Kazoo's fax worker does when a job ends: the status, then (move) maybe_move_doc's move."""
    doc = couch.get(FAXES, job_id)
    assert doc is not None, f"no job {job_id} in faxes"
    doc["attempts"] = int(doc.get("attempts") or 0) + 1
    doc["pvt_job_status"] = "completed" if success else "failed"
    doc["tx_result"] = {
        "success": success,
        "pages_sent": pages if success else 0,
        "time_elapsed": 42,
        "result_code": 0 if success else 49,
        "result_text": "OK" if success else "The call dropped prematurely",
        "error_message": "" if success else "The call dropped prematurely",
    }
    doc["pvt_delivered_date"] = kd.gregorian_now() if success else None
    doc["pvt_modified"] = kd.gregorian_now()
    doc["_rev"] = couch.save(FAXES, doc)
    if not move:
        return
    year, month = kd.now_month()
    modb = dbnames.modb(account_id := doc["pvt_account_id"], year, month)
    couch.create_db(modb)
    moved = {k: v for k, v in doc.items() if k not in ("_id", "_rev", "_attachments")}
    moved.update(
        {
            "_id": f"{year:04d}{month:02d}-{job_id}",
            "folder": "outbox",
            "pvt_account_db": dbnames.modb(account_id, year, month, encoded=True),
        }
    )
    couch.save(modb, moved)
    answer = requests.delete(f"{couch_url}/{FAXES}/{quote(job_id)}", params={"rev": doc["_rev"]}, timeout=10)
    answer.raise_for_status()
