"""The fax outbox pass with the memory backend and a Kazoo queue in a dict: settling,
at-most-once across failures, refusals, and the delete that files a file."""

from __future__ import annotations

import hashlib
import io
import time
from typing import Any

import pytest

from syncd.backends.base import ObjectInfo
from syncd.backends.memory import MemoryBackend
from syncd.errors import BackendUnavailable, FaxRefused, KazooError, PreconditionFailed
from syncd.flows.fax.outbox import FaxOutbox, Outbox
from syncd.model.fax import FaxRequest, JobResult, Sender
from syncd.state import State
from tests.support import fax_kazoo as fk

TO = "+14155550100"


class Queue:
    """Kazoo's queue in a dict: jobs by id; `down` makes it fail as an unreachable CouchDB would."""

    def __init__(self) -> None:
        self.jobs: dict[str, FaxRequest] = {}
        self.ended: dict[str, bool] = {}
        self.submits = 0
        self.down: Exception | None = None

    def sender(self, account_id: str, configured: Sender) -> Sender:
        return configured

    def submit(self, request: FaxRequest, pdf: bytes) -> tuple[str, bool]:
        self.submits += 1
        if self.down:
            raise self.down
        created = request.job_id not in self.jobs
        self.jobs.setdefault(request.job_id, request)
        return request.job_id, created

    def locate(self, job: str, account_id: str, created: float) -> str | None:
        return job if job in self.jobs else None

    def result(self, kazoo_id: str, account_id: str, created: float) -> JobResult | None:
        if kazoo_id not in self.jobs:
            return None
        if kazoo_id not in self.ended:
            return JobResult("pending", False)
        ok = self.ended[kazoo_id]
        return JobResult("completed" if ok else "failed", True, ok, 1, {"result_text": "OK" if ok else "busy"})


class ContentEtags(MemoryBackend):
    """Etags from the bytes, as S3's and Drive's are: the same file put again has the same etag."""

    def stat(self, key: str) -> ObjectInfo:
        info = super().stat(key)
        return ObjectInfo(info.key, info.size, info.md5 or "", info.md5)

    def delete(self, key: str, *, etag: str | None = None) -> None:
        current = self.stat(key).etag
        if etag is not None and etag != current:
            raise PreconditionFailed(key, etag, current)
        super().delete(key)


def outbox(settle: float = 0.0) -> Outbox:
    return Outbox(
        "box",
        "a" * 32,
        "mem",
        "fax/outbox",
        "fax/sent",
        "fax/failed",
        "fax/rejected",
        Sender(from_number="+14155550199"),
        settle=settle,
    )


def drop(backend: MemoryBackend, name: str, data: bytes) -> None:
    backend.put(f"fax/outbox/{name}", io.BytesIO(data), length=len(data), content_type="application/pdf")


def keys(backend: MemoryBackend) -> set[str]:
    return {o.key for o in backend.list()}


@pytest.fixture
def state() -> State:
    return State(":memory:")


def test_a_file_is_taken_only_once_it_has_stopped_changing(state: State) -> None:
    backend, queue = MemoryBackend(), Queue()
    box = FaxOutbox(outbox(settle=0.2), backend, queue, state.fax)
    drop(backend, f"{TO} - a.pdf", fk.pdf(seed="a"))
    assert box.run_pass().submitted == 0  # first sight
    drop(backend, f"{TO} - a.pdf", fk.pdf(seed="a, still being written"))
    time.sleep(0.25)
    assert box.run_pass().submitted == 0  # it changed: the wait starts again
    time.sleep(0.25)
    assert box.run_pass().submitted == 1 and queue.submits == 1


def test_a_failed_listing_decides_nothing(state: State) -> None:
    class Broken(MemoryBackend):
        def list(self, prefix: str = "") -> Any:
            yield from super().list(prefix)
            raise BackendUnavailable("listing cut off")

    backend = Broken()
    drop(backend, f"{TO} - a.pdf", fk.pdf(seed="a"))
    box = FaxOutbox(outbox(), backend, Queue(), state.fax)
    with pytest.raises(BackendUnavailable):
        box.run_pass()


def test_kazoo_down_at_submission_sends_once_when_it_is_back(state: State) -> None:
    backend, queue = MemoryBackend(), Queue()
    box = FaxOutbox(outbox(), backend, queue, state.fax)
    drop(backend, f"{TO} - a.pdf", fk.pdf(seed="a"))
    queue.down = KazooError("CouchDB unreachable")
    report = box.run_pass()
    assert report.errors and state.fax.jobs("box", "submitting")
    queue.down = None
    for _ in range(3):
        box.run_pass()
    assert len(queue.jobs) == 1 and queue.submits == 2 and state.fax.jobs("box", "submitted")


def test_a_refusal_by_kazoo_files_the_pdf_as_rejected(state: State) -> None:
    backend, queue = MemoryBackend(), Queue()
    queue.down = FaxRefused("Kazoo refused it: HTTP 400 validation error")
    drop(backend, f"{TO} - a.pdf", fk.pdf(seed="a"))
    report = FaxOutbox(outbox(), backend, queue, state.fax).run_pass()
    assert report.rejected == 1 and report.filed == 1
    assert keys(backend) == {f"fax/rejected/{TO} - a.pdf", f"fax/rejected/{TO} - a.pdf.json"}


def test_the_same_bytes_dropped_again_after_sending_are_refused_not_ignored_or_resent(state: State) -> None:
    backend, queue = ContentEtags(), Queue()
    box = FaxOutbox(outbox(), backend, queue, state.fax)
    document = fk.pdf(seed="again")
    drop(backend, f"{TO} - a.pdf", document)
    box.run_pass()
    (job_id,) = queue.jobs
    queue.ended[job_id] = True
    box.run_pass()
    assert f"fax/sent/{TO} - a.pdf" in keys(backend)
    for _ in range(2):  # the same bytes, the same etag, twice more
        drop(backend, f"{TO} - a.pdf", document)
        assert box.run_pass().rejected == 1
    assert queue.submits == 1 and not [k for k in keys(backend) if k.startswith("fax/outbox/")]
    assert f"fax/rejected/{TO} - a (" in " ".join(keys(backend))  # the second refusal did not overwrite the first


def test_filing_never_deletes_a_file_replaced_while_it_was_copied(state: State) -> None:
    replaced = fk.pdf(pages=2, seed="saved over it")

    class SavedOver(MemoryBackend):
        def put(self, key: str, body: Any, **kw: Any) -> ObjectInfo:
            info = super().put(key, body, **kw)
            if key.startswith("fax/sent/") and not key.endswith(".json"):  # a person saves over the original now
                super().put(
                    f"fax/outbox/{TO} - a.pdf",
                    io.BytesIO(replaced),
                    length=len(replaced),
                    content_type="application/pdf",
                )
            return info

    backend, queue = SavedOver(), Queue()
    box = FaxOutbox(outbox(), backend, queue, state.fax)
    drop(backend, f"{TO} - a.pdf", fk.pdf(seed="original"))
    box.run_pass()
    queue.ended[next(iter(queue.jobs))] = True
    box.run_pass()
    with backend.get(f"fax/outbox/{TO} - a.pdf") as f:
        assert hashlib.md5(f.read()).digest() == hashlib.md5(replaced).digest()
    assert f"fax/sent/{TO} - a.pdf" in keys(backend)
    box.run_pass()  # and the new version is a new fax
    assert len(queue.jobs) == 2


def test_unusual_names_keep_their_exact_name_when_filed(state: State) -> None:
    backend, queue = MemoryBackend(), Queue()
    box = FaxOutbox(outbox(), backend, queue, state.fax)
    name = f"{TO} - Devis été 50%2F50 ✓.pdf"
    drop(backend, name, fk.pdf(seed="unicode"))
    drop(backend, ".DS_Store", b"\x00\x01")  # hidden files are not faxes, and not rejected either
    box.run_pass()
    (job_id,) = queue.jobs
    assert queue.jobs[job_id].to_name == "Devis été 50%2F50 ✓"
    queue.ended[job_id] = False
    box.run_pass()
    assert keys(backend) == {f"fax/failed/{name}", f"fax/failed/{name}.json", "fax/outbox/.DS_Store"}


def test_a_status_file_never_replaces_a_file_that_is_not_this_jobs_status(state: State) -> None:
    """What is at the status file's name, a person's notes or an earlier job's status, stays;
    this job's status goes beside it under a free name."""
    backend, queue = MemoryBackend(), Queue()
    queue.down = FaxRefused("Kazoo refused it: HTTP 400 validation error")
    notes = b'{"my": "notes about this fax"}'
    backend.put(f"fax/rejected/{TO} - a.pdf.json", io.BytesIO(notes), length=len(notes), content_type="x")
    drop(backend, f"{TO} - a.pdf", fk.pdf(seed="first"))
    FaxOutbox(outbox(), backend, queue, state.fax).run_pass()
    with backend.get(f"fax/rejected/{TO} - a.pdf.json") as f:
        assert f.read() == notes
    assert f"fax/rejected/{TO} - a.pdf (2).json" in keys(backend)
