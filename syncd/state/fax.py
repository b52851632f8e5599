"""The fax outbox's record: one row per file version handled.

A row is
written *before* Kazoo is asked to send (status submitting), so after a crash
syncd knows to look in Kazoo rather than to send again.
"""

from __future__ import annotations

import json
import time
from typing import Any

from syncd.model.fax import FaxJob
from syncd.state.db import Database

FAX_COLUMNS = (
    "job_id, outbox, account_id, source_key, source_etag, fingerprint, size, to_number, status, "
    "detail, created_at, filed_at"
)


def _job(row: tuple[Any, ...]) -> FaxJob:
    values = dict(zip((c.strip() for c in FAX_COLUMNS.split(",")), row, strict=True))
    values["detail"] = json.loads(values["detail"] or "{}")
    return FaxJob(**values)


class FaxJobs:
    """The fax_jobs table: what each outbox file became in Kazoo."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def seen(self, outbox: str, key: str, etag: str) -> bool:
        """Whether this version of the file at key is being handled. Once its job is filed, the
        file left the outbox: the same version found there again was dropped again."""
        return (
            self.db.execute(
                "SELECT 1 FROM fax_jobs WHERE outbox = ? AND source_key = ? AND source_etag = ? AND filed_at IS NULL",
                (outbox, key, etag),
            ).fetchone()
            is not None
        )

    def job(self, job_id: str) -> FaxJob | None:
        row = self.db.execute(
            f"SELECT {FAX_COLUMNS} FROM fax_jobs WHERE job_id = ?",  # noqa: S608
            (job_id,),
        ).fetchone()
        return None if row is None else _job(row)

    def jobs(self, outbox: str, *statuses: str, unfiled: bool = False) -> list[FaxJob]:
        marks = ",".join("?" * len(statuses))
        sql = f"SELECT {FAX_COLUMNS} FROM fax_jobs WHERE outbox = ? AND status IN ({marks})"  # noqa: S608
        if unfiled:
            sql += " AND filed_at IS NULL"
        return [_job(r) for r in self.db.execute(sql + " ORDER BY created_at", (outbox, *statuses))]

    def record(self, job: FaxJob) -> None:
        with self.db.tx() as db:
            db.execute(
                f"INSERT INTO fax_jobs ({FAX_COLUMNS}, updated_at) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.job_id,
                    job.outbox,
                    job.account_id,
                    job.source_key,
                    job.source_etag,
                    job.fingerprint,
                    job.size,
                    job.to_number,
                    job.status,
                    json.dumps(job.detail),
                    job.created_at,
                    job.filed_at,
                    time.time(),
                ),
            )

    def update(
        self,
        job_id: str,
        *,
        status: str | None = None,
        detail: dict[str, Any] | None = None,
        source_etag: str | None = None,
        filed: bool = False,
    ) -> None:
        sets = {
            "status": status,
            "detail": json.dumps(detail) if detail is not None else None,
            "source_etag": source_etag,
            "filed_at": time.time() if filed else None,
        }
        changes = {k: v for k, v in sets.items() if v is not None}
        assignments = ", ".join(f"{k} = ?" for k in changes)
        with self.db.tx() as db:
            db.execute(
                f"UPDATE fax_jobs SET {assignments}, updated_at = ? WHERE job_id = ?",  # noqa: S608
                (*changes.values(), time.time(), job_id),
            )

    def forget(self, job_id: str) -> None:
        """Drop a row whose job never reached Kazoo (its file changed or vanished first)."""
        with self.db.tx() as db:
            db.execute("DELETE FROM fax_jobs WHERE job_id = ? AND status = 'submitting'", (job_id,))

    def counts(self) -> list[tuple[str, str, int]]:
        """(outbox, status, count) for status output."""
        return [
            tuple(r)
            for r in self.db.execute(
                "SELECT outbox, CASE WHEN filed_at IS NULL OR status NOT IN ('completed', 'failed', 'rejected') "
                "THEN status ELSE status || ' (filed)' END, COUNT(*) FROM fax_jobs GROUP BY 1, 2 ORDER BY 1, 2"
            )
        ]
