"""One media library pass: a folder of a backend and one account's media, both ways.

1. The folder is listed (a library is a few hundred files: the listing is held).
2. Kazoo's side (syncd.flows.media.from_kazoo): media made or deleted in Kazoo
   since the library's cursor become files, or send their file to the trash.
3. The files: a new file, once it has stayed unchanged for `settle` seconds, is
   judged by decoding (syncd.flows.media.audio) and becomes a media doc with its
   audio, or goes to rejected/ with a status file; a replaced file gives its
   media the new audio (same id) once it has been still for the grace period,
   within the mass-delete guard (the old audio is gone then); a file renamed or moved (same bytes, or the
   same Drive id) renames its media; a tracked file that is gone is a first
   sighting for the two-way engine.
4. The engine confirms sightings a grace period old and soft-deletes the media,
   behind the location marker, the mass-delete guard and a check that nothing
   in the account still uses the media (syncd.kazoo.media.MediaDeleter).

A media's id is derived from the file's first place and bytes
(model.media.media_id_for), so a syncd killed between writing the doc and
recording it finds the same doc again instead of making a second one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from syncd.backends.base import Backend, ObjectInfo
from syncd.engine.twoway import Report, TwoWay
from syncd.errors import StateError, describe
from syncd.flows.media.audio import AudioRejected, Limits, judge
from syncd.flows.media.filing import reject, tell
from syncd.flows.media.from_kazoo import FromKazoo
from syncd.flows.media.moh import HoldMusic
from syncd.flows.media.to_kazoo import ToKazoo, spooled
from syncd.kazoo.deletes import is_deleted
from syncd.model.media import Library, is_media_file, media_for_key
from syncd.state import Item, State

log = logging.getLogger("syncd.media")
REPAIRED = "repaired:source_id:"  # + a library's target: its media were checked once for an old source_id


@dataclass
class LibraryReport:
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # account -> the guard's message
    refused: dict[str, str] = field(default_factory=dict)  # library target -> why no deletes
    look_again_in: float | None = None  # a file is settling: look again then

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


class MediaLibrary:
    def __init__(self, library: Library, backend: Backend, to_kazoo: ToKazoo, state: State, twoway: TwoWay) -> None:
        self.lib, self.backend, self.state, self.twoway = library, backend, state, twoway
        self.to_kazoo = to_kazoo
        self.from_kazoo = FromKazoo(library, backend, to_kazoo.media, state)
        grace = twoway.policy.grace
        self.hold_music = HoldMusic(library, backend, to_kazoo.media, state, self._judged_copy, self._guard, grace)
        self.limits = Limits(library.max_bytes, library.max_seconds)
        self._first_seen: dict[tuple[str, str], float] = {}  # (key, etag) -> when first listed
        self._rejected: set[tuple[str, str]] = set()  # (key, etag) rejected by this process

    def run_pass(self, allow_deletes: bool = False) -> LibraryReport:
        report = LibraryReport()
        listing = {info.key: info for info in self.backend.list()}
        self.from_kazoo.run(listing, report)
        tracked = self.state.media.of(self.lib.target)
        self._repair_once(tracked, report)
        if not listing and tracked:
            self._refuse(
                "the library folder listed nothing at all while syncd tracks files there: wrong folder, "
                "or not mounted; nothing is treated as deleted",
                report,
            )
            return report
        present = sum(1 for item in tracked if item.object_key in listing)
        if present and (why := self.twoway.location_refusal(self.lib.target, self.backend, present)):
            self._refuse(why, report)
            return report
        self._files(listing, tracked, report, allow_deletes)
        if not present and report.counts.get("created"):  # the first media: the marker goes in now
            self.twoway.location_refusal(self.lib.target, self.backend, report.counts["created"])
        engine = Report()
        self.twoway.confirm(engine, allow_deletes, target=self.lib.target)
        for action, count in engine.counts.items():
            report.add(action, count)
        for line in engine.lines:
            if line.action == "refused":  # still in use: the folder shows the media again, and why
                self._contained(line.item.object_key, report, partial(self._put_back, line.item, line.reason))
        report.held.update(engine.held)
        report.refused.update(engine.refused)
        # after the deletes: a hold the guard has just made also holds the hold music's restores
        self.hold_music.run(listing, partial(self._settled, report=report), report, allow_deletes)
        return report

    def _guard(self, removals: int, more: int, report: LibraryReport, allow: bool) -> str | None:
        """The mass-delete guard on removals from this library's account that are not items."""
        return self.twoway.guard_account(self.lib.account_id, removals, report, allow, more=more)

    def _repair_once(self, tracked: list[Item], report: LibraryReport) -> None:
        """Once per library, ever (a mark in the state DB): media an earlier syncd wrote with a
        source_id Kazoo's schema refuses are saved without it."""
        mark = REPAIRED + self.lib.target
        if self.state.feeds.cursor(mark):
            return
        media = self.to_kazoo.media
        ids = [i.doc_id for i in tracked] + [p.media_id for p in self.state.playlists.of(self.lib.name).values()]
        for media_id in ids:
            doc = media.get(self.lib.account_id, media_id)
            if doc is not None and not is_deleted(doc) and media.repair(self.lib.account_id, doc):
                report.add("repaired")
        self.state.feeds.move(mark, True)

    # -- the files ---------------------------------------------------------------
    def _files(self, listing: dict[str, ObjectInfo], tracked: list[Item], report: LibraryReport, allow: bool) -> None:
        by_key = {item.object_key: item for item in tracked}
        gone = [item for item in tracked if item.object_key not in listing]
        new: list[ObjectInfo] = []
        ready: list[tuple[Item, ObjectInfo]] = []  # files with new audio, settled for the grace period
        for key, info in sorted(listing.items()):
            if not is_media_file(key):
                continue
            item = by_key.get(key)
            if item is None:
                new.append(info)
            elif info.etag != item.etag:
                self._contained(key, report, partial(self._changed, item, info, report, ready))
            elif item.missing_since is not None:
                self.state.listings.clear_missing([item.id])
        self._replace_all(ready, report, allow)
        for item, info in self._renames(gone, new):
            self._contained(info.key, report, partial(self._rename, item, info, report))
            gone.remove(item)
            new.remove(info)
        for info in new:
            self._contained(info.key, report, partial(self._new, info, report))
        first_sightings = [item.id for item in gone if item.missing_since is None]
        if first_sightings:
            self.state.listings.mark_missing(first_sightings)
            report.add("missing", len(first_sightings))
            log.info("library=%s %d file(s) gone; their media wait out the grace period", self.lib.name, len(gone))

    def _new(self, info: ObjectInfo, report: LibraryReport) -> None:
        if info.special:
            self._reject(info, f"a {info.special} is never read; put the audio file itself here", report)
        elif self._settled(info, report):
            try:
                self.to_kazoo.create(self.lib, info, self.limits)
                report.add("created")
            except AudioRejected as exc:
                self._reject(info, str(exc), report)

    def _changed(
        self, item: Item, info: ObjectInfo, report: LibraryReport, ready: list[tuple[Item, ObjectInfo]]
    ) -> None:
        md5 = info.md5 or self.backend.stat(info.key).md5
        if md5 == item.md5:  # touched, not changed: remember the new etag only
            self.state.media.replaced(item, item, info.etag, md5, info.object_id)
        elif self._settled(info, report, at_least=self.twoway.policy.grace):
            ready.append((item, info))

    def _replace_all(self, ready: list[tuple[Item, ObjectInfo]], report: LibraryReport, allow: bool) -> None:
        """New audio replaces a media's old audio, which is gone from the tenant then: so a
        replacement waits the grace period (above), and the mass-delete guard weighs them all
        (a tool that overwrote a whole library is held as a mass delete is)."""
        if not ready:
            return
        account = self.lib.account_id
        held = None if allow else self.state.holds.all().get(account)
        held = held or self.twoway.guard_account(account, len(ready), report, allow)
        if held:
            report.held.setdefault(account, held)
            log.warning("library=%s %d replaced file(s) wait while the account's deletes are held: %s",
                        self.lib.name, len(ready), held)  # fmt: skip
            return
        for item, info in ready:
            self._contained(info.key, report, partial(self._replace, item, info, report))

    def _replace(self, item: Item, info: ObjectInfo, report: LibraryReport) -> None:
        try:
            self.to_kazoo.replace(self.lib, item, info, self.limits)
        except AudioRejected as exc:
            self._reject(info, str(exc), report)
            self.from_kazoo.restore(item, "its replacement was rejected; Kazoo's audio was put back")
            return
        self.state.audit.removal(
            self.lib.account_id, self.lib.target, item.doc_id, info.key, "media-replaced",
            "the file was replaced: its new audio replaced the media's (settled for the grace period)",
        )  # fmt: skip
        report.add("replaced")

    def _rename(self, item: Item, info: ObjectInfo, report: LibraryReport) -> None:
        self.to_kazoo.rename(item, info, media_for_key(info.key, self.lib.language).fields)
        report.add("renamed")
        log.info("library=%s media=%s file renamed %r -> %r", self.lib.name, item.doc_id, item.object_key, info.key)

    def _renames(self, gone: list[Item], new: list[ObjectInfo]) -> list[tuple[Item, ObjectInfo]]:
        """Gone files paired with new ones holding the same bytes (or the same Drive file)."""
        pairs: list[tuple[Item, ObjectInfo]] = []
        if not gone or not new:
            return pairs
        waiting = list(gone)
        for info in new:
            if info.special or media_for_key(info.key, "").fixed_id:
                continue
            same_file = {i.id for i in self.state.listings.items_with_object_id(self.lib.target, info.object_id or "")}
            match = next((i for i in waiting if i.id in same_file), None)
            if match is None:
                md5 = info.md5 or self.backend.stat(info.key).md5
                match = next((i for i in waiting if i.md5 and i.md5 == md5 and not _prompt(i)), None)
            if match is not None:
                waiting.remove(match)
                pairs.append((match, info))
        return pairs

    def _put_back(self, item: Item, reason: str) -> None:
        self.from_kazoo.restore(item, f"not deleted: {reason}; the file was put back")
        tell(self.backend, item.object_key, self.lib.name, "kept", f"not deleted: {reason}; the file was put back")

    def _judged_copy(self, info: ObjectInfo, folder: Path, report: LibraryReport) -> Path | None:
        """A music-on-hold file copied into folder and judged; None when rejected (and told why)."""
        if info.special:
            self._reject(info, f"a {info.special} is never read; put the audio file itself here", report)
            return None
        try:
            with spooled(self.backend, info, self.limits, folder) as (path, _md5):
                judge(path, self.limits)
                return path
        except AudioRejected as exc:
            self._reject(info, str(exc), report)
            return None

    def _settled(self, info: ObjectInfo, report: LibraryReport, at_least: float = 0.0) -> bool:
        """True once the file has been unchanged for `settle` seconds (it may still be copied in): by
        the backend's modification time, or, where it gives none, listed unchanged that long by this
        process. A scheduled `run --once` so takes a file that has been still for hours."""
        now = time.time()
        seen = self._first_seen.setdefault((info.key, info.etag), now)
        still = max(now - seen, info.still_for(now) or 0.0)
        wait = max(self.lib.settle, at_least) - still
        if wait <= 0:
            return True
        report.look_again_in = min(report.look_again_in or wait, wait)
        return False

    def _reject(self, info: ObjectInfo, reason: str, report: LibraryReport) -> None:
        if (info.key, info.etag) in self._rejected:
            return  # left in place (a link), or moved meanwhile: its status file is written already
        self._rejected.add((info.key, info.etag))
        where = reject(self.backend, info, self.lib.name, reason)
        report.add("rejected")
        log.warning("library=%s file %r rejected (%s); moved to %r", self.lib.name, info.key, reason, where)

    def _contained(self, key: str, report: LibraryReport, step: Callable[[], Any]) -> None:
        """One file's failure is that file's: logged, reported, tried again next pass."""
        try:
            step()
        except StateError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bulkhead per file
            report.errors.append(f"{key}: {describe(exc)}")
            log.warning("library=%s file %r not handled this pass: %s", self.lib.name, key, describe(exc))

    def _refuse(self, why: str, report: LibraryReport) -> None:
        report.refused[self.lib.target] = why
        if self.state.problems.set(f"media:{self.lib.name}", why):
            self.state.audit.event(
                "refused",
                f"no deletes in media library {self.lib.name}: {why}",
                account_id=self.lib.account_id,
                target=self.lib.target,
            )
            log.error("library=%s %s", self.lib.name, why)


def _prompt(item: Item) -> bool:
    return "/" in item.doc_id
