"""Turn one Kazoo document into upload work: which attachments go to which
target, under which object name.

Two sources of routes:
- Kazoo's own storage plans (PlanBook), named exactly as Kazoo names them;
- syncd's configured flows (FlowRule), for targets Kazoo has no handler for.
Attachments Kazoo already offloaded (pvt_attachments) are recorded, not uploaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from syncd.backends import BackendSpec
from syncd.errors import DocError, PlanError
from syncd.kazoo import dbnames, naming
from syncd.kazoo.couch import UNREADABLE
from syncd.kazoo.endpoints import valid_host, valid_region
from syncd.kazoo.handler_blobs import BlobError, external_copy
from syncd.kazoo.plans import PlanBook, Route
from syncd.runtime.logs import redact
from syncd.state import NewItem

log = logging.getLogger("syncd.kazoo")

PROBE_TYPES = frozenset({"storage_settings_probe", "attachment_handler_error"})
PROBE_SUFFIX = "_test_credentials_file.txt"
SUPPORTED_HANDLERS = frozenset({"s3", "google_drive"})
PDF = "application/pdf"
PDF_TARGET_SUFFIX = "#pdf"  # a received fax's PDF beside its TIFF ("both"): same backend, its own item
_TIFF_SUFFIXES = (".tiff", ".tif")
# Settings that decide where an S3 object lands (not who may write it).
_S3_LOCATION_KEYS = ("bucket", "host", "port", "scheme", "region", "bucket_access_method", "bucket_after_host")


@dataclass(frozen=True)
class FlowRule:
    """A syncd-configured upload flow, in Kazoo terms."""

    target: str
    classification: str
    pvt_type: str
    accounts: frozenset[str] = frozenset()
    naming: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Attachment:
    name: str
    digest: str | None
    length: int
    content_type: str


MAX_NAME_BYTES = 1024  # S3's key limit; Kazoo's own names are far shorter
MAX_ATTACHMENTS = 1000  # a voicemail has one; a fax a few


def inline_attachments(doc: dict[str, Any]) -> list[Attachment]:
    """The doc's CouchDB attachments, each field type-checked (DocError when one is not CouchDB's)."""
    found = []
    for name, meta in _entries(doc, "_attachments").items():
        if not name.endswith(PROBE_SUFFIX):
            found.append(
                Attachment(
                    name, _digest(doc, name, meta), _length(doc, "_attachments", name, meta), _content_type(meta)
                )
            )
    return found


def _entries(doc: dict[str, Any], key: str) -> dict[str, Any]:
    entries = doc.get(key)
    if entries is None:
        return {}
    if not isinstance(entries, dict):
        raise DocError(doc, key, f"must be an object of attachments, found {type(entries).__name__}")
    if len(entries) > MAX_ATTACHMENTS:
        raise DocError(doc, key, f"has {len(entries):,} attachments; at most {MAX_ATTACHMENTS:,} are read")
    for name, meta in entries.items():
        if not isinstance(meta, dict):
            raise DocError(doc, f"{key}.{name[:80]}", f"must be an object, found {type(meta).__name__}")
        if not name or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise DocError(doc, key, f"an attachment name is empty or longer than {MAX_NAME_BYTES} bytes")
    return entries


def _length(doc: dict[str, Any], key: str, name: str, meta: dict[str, Any]) -> int:
    length = meta.get("length", 0)
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise DocError(doc, f"{key}.{name[:80]}.length", f"must be a whole number of bytes, found {length!r:.40}")
    return length


def _digest(doc: dict[str, Any], name: str, meta: dict[str, Any]) -> str | None:
    digest = meta.get("digest")
    if digest is not None and not isinstance(digest, str):
        raise DocError(doc, f"_attachments.{name[:80]}.digest", f"must be text, found {type(digest).__name__}")
    return digest


def _content_type(meta: dict[str, Any]) -> str:
    content_type = meta.get("content_type")
    return content_type if isinstance(content_type, str) and content_type else "application/octet-stream"


def s3_target(route: Route, checksum: str) -> tuple[str, BackendSpec]:
    """The backend a Kazoo S3 handler describes, honouring every kz_att_s3 setting."""
    s = route.settings
    if not s.get("bucket"):
        raise PlanError(
            route.storage_doc,
            f"attachments.{route.handler_id}.settings.bucket",
            "missing; the S3 handler needs a bucket",
        )
    region = s.get("region") or None
    host = s.get("host") or (f"s3.{region}.amazonaws.com" if region else "s3.amazonaws.com")
    _check_location(route, region, host, s.get("port"))
    port = f":{s['port']}" if s.get("port") else ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal in a URL
    style = {"vhost": "virtual", "path": "path", "auto": "auto"}.get(
        s.get("bucket_access_method") or "", "auto" if region else "path"
    )
    if s.get("bucket_after_host") is True:
        style = "path"  # bucket in the path, right after the host
    if s.get("secret"):
        redact(str(s["secret"]))
    options = {
        "bucket": s["bucket"],
        "access_key_id": s.get("key"),
        "secret_access_key": s.get("secret"),
        "region": region,
        "endpoint_url": f"{s.get('scheme') or 'https'}://{host}{port}",
        "addressing_style": style,
        "checksum": checksum,
    }
    location = json.dumps({k: s.get(k) for k in _S3_LOCATION_KEYS}, sort_keys=True, default=str)
    digest = hashlib.sha1(location.encode()).hexdigest()[:8]  # noqa: S324 - a name, not security
    return f"kazoo:{route.handler_id}:{digest}", BackendSpec("s3", options)


def _check_location(route: Route, region: Any, host: str, port: Any) -> None:
    """What boto3 would choke on (or be misled by) refused here, as the storage document's problem."""
    where = f"attachments.{route.handler_id}.settings"
    if region is not None and not (isinstance(region, str) and valid_region(region)):
        raise PlanError(
            route.storage_doc,
            f"{where}.region",
            f"{str(region)[:60]!r} is not an AWS region name (lower-case letters, digits and '-', like \"us-east-1\")",
        )
    if not isinstance(host, str) or not valid_host(host):
        raise PlanError(
            route.storage_doc,
            f"{where}.host",
            f"{str(host)[:60]!r} is not a host name or address (no scheme, path, port or spaces)",
        )
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise PlanError(route.storage_doc, f"{where}.port", f"{str(port)[:20]!r} is not a port (1-65535)")


def drive_target(route: Route, drive: dict[str, Any]) -> tuple[str, BackendSpec]:
    """The Drive folder a kz_att_google_drive handler writes to, reached with syncd's own
    credentials ([kazoo.google_drive]): Kazoo's token has scope drive.file (reference §11.8)."""
    folder = str(route.settings.get("folder_id") or "root")
    digest = hashlib.sha1(f"{folder}|{route.settings.get('oauth_doc_id')}".encode()).hexdigest()[:8]  # noqa: S324
    return f"kazoo:{route.handler_id}:{digest}", BackendSpec("google_drive", {**drive, "folder_id": folder})


def handler_target(route: Route, s3_checksum: str, drive: dict[str, Any]) -> tuple[str, BackendSpec] | None:
    """Where syncd uploads what this route sends to Kazoo's handler; None when it cannot."""
    if route.handler == "s3":
        return s3_target(route, s3_checksum)
    if route.handler == "google_drive" and drive.get("credentials"):
        return drive_target(route, drive)
    return None


def handler_key(route: Route, db_name: str, doc: dict[str, Any], attachment: str) -> str:
    name = naming.object_name(route.handler, route.settings, db_name, doc, attachment)
    if route.handler == "google_drive" and route.settings.get("folder_id"):
        return name.rsplit("/", 1)[-1]  # with folder_id, Kazoo ignores the path tokens
    return name


class DocPlanner:
    """Computes the NewItems for a document, and remembers the Kazoo targets it saw."""

    def __init__(
        self,
        plans: PlanBook,
        rules: list[FlowRule],
        follow_plans: bool,
        s3_checksum: str,
        drive: dict[str, Any] | None = None,
        received_fax_format: str = "tiff",
    ) -> None:
        self.plans, self.rules, self.follow_plans, self.s3_checksum = plans, rules, follow_plans, s3_checksum
        self.drive = drive or {}
        self._route_targets: dict[int, tuple[Route, tuple[str, BackendSpec] | None]] = {}
        self.received_fax_format = received_fax_format
        self.kazoo_targets: dict[str, BackendSpec] = {}
        self._warned: set[str] = set()

    def items(self, db_name: str, doc: dict[str, Any]) -> list[NewItem]:
        """Work for doc in db_name. Raises PlanError when the account's plan is broken."""
        if UNREADABLE in doc:
            raise DocError(doc, "(document)", str(doc[UNREADABLE]))
        if not isinstance(doc.get("_id"), str) or not isinstance(doc.get("pvt_type", ""), str):
            raise DocError(doc, "_id/pvt_type", "must be text")
        if _skip(doc) or not (doc.get("_attachments") or doc.get("pvt_attachments")):
            return []  # nothing to upload (a CDR, most of an MODB): no plan is consulted
        info = dbnames.parse(db_name)
        if info is None:
            return []
        found: list[NewItem] = []
        if self.follow_plans:
            found += self._plan_items(db_name, info, doc)
        found += self._offloaded_items(db_name, info, doc)
        for rule in self.rules:
            if _rule_applies(rule, info, doc):
                found += [
                    self._item(
                        db_name,
                        info,
                        doc,
                        att,
                        rule.target,
                        naming.object_name("s3", rule.naming, db_name, doc, att.name),
                    )
                    for att in inline_attachments(doc)
                ]
        if self.received_fax_format != "tiff" and _is_received_fax(doc):
            found = [rendition for item in found for rendition in self._fax_renditions(item)]
        return found

    def _fax_renditions(self, item: NewItem) -> list[NewItem]:
        """A received fax's TIFF as a PDF under the same name (.tiff -> .pdf), with or without the TIFF.

        The PDF's length is unknown until it is made (0: two-way compares its MD5
        instead); its content type tells the uploader to convert."""
        if item.offloaded or not item.attachment.lower().endswith(_TIFF_SUFFIXES):
            return [item]
        stem = (
            item.object_key.rsplit(".", 1)[0] if item.object_key.lower().endswith(_TIFF_SUFFIXES) else item.object_key
        )
        keep_tiff = self.received_fax_format == "both"
        target = item.target + PDF_TARGET_SUFFIX if keep_tiff else item.target
        pdf = dataclasses.replace(
            item, target=target, object_key=stem + ".pdf", content_type=PDF, length=0, may_exist=False
        )
        return [item, pdf] if keep_tiff else [pdf]

    def _plan_items(self, db_name: str, info: dbnames.DbInfo, doc: dict[str, Any]) -> list[NewItem]:
        route = self.plans.route(info.account_id, info.classification, doc)
        if route is None:
            return []
        found = self._handler_target(route)
        if found is None:
            if route.handler_id not in self._warned:
                self._warned.add(route.handler_id)
                need = (
                    "; set [kazoo.google_drive] credentials_file to upload there"
                    if route.handler == "google_drive"
                    else ""
                )
                log.warning(
                    "storage plan system_data/%s routes %s to a %s handler, which syncd does not "
                    "upload to%s; Kazoo's own copies are still recorded",
                    route.storage_doc,
                    doc.get("pvt_type"),
                    route.handler,
                    need,
                )
            return []
        target, spec = found
        known = self.kazoo_targets.get(target)
        if known is None or known.options != spec.options:  # keep the object: backends are cached by it
            self.kazoo_targets[target] = spec
        return [
            self._item(
                db_name, info, doc, att, target, handler_key(route, db_name, doc, att.name), may_exist=route.stub
            )
            for att in inline_attachments(doc)
        ]

    def _handler_target(self, route: Route) -> tuple[str, BackendSpec] | None:
        """handler_target once per route, not per document: PlanBook hands out one Route object
        per plan, owner and type until a storage doc changes, so the object's identity is the key
        (a reconcile of 100,000 voicemails spent ~3 s of CPU rebuilding the same target)."""
        cached = self._route_targets.get(id(route))
        if cached is not None and cached[0] is route:
            return cached[1]
        found = handler_target(route, self.s3_checksum, self.drive)
        if len(self._route_targets) >= 10_000:  # plans edited over a long run: start afresh
            self._route_targets.clear()
        self._route_targets[id(route)] = (route, found)
        return found

    def _offloaded_items(self, db_name: str, info: dbnames.DbInfo, doc: dict[str, Any]) -> list[NewItem]:
        out = []
        for name, entry in _entries(doc, "pvt_attachments").items():
            if name.endswith(PROBE_SUFFIX):
                continue
            att = Attachment(name, None, _length(doc, "pvt_attachments", name, entry), _content_type(entry))
            try:
                copy = external_copy(entry)
            except BlobError as exc:
                log.warning(
                    "cannot read Kazoo's pointer for attachment %r: %s account=%s db=%s doc=%s",
                    name,
                    exc,
                    info.account_id,
                    db_name,
                    doc.get("_id"),
                )
                continue
            if copy is None:
                continue
            target = f"kazoo-offloaded:{copy.handler}" + (f":{copy.container}" if copy.container else "")
            out.append(self._item(db_name, info, doc, att, target, copy.location, offloaded=True))
        return out

    @staticmethod
    def _item(
        db_name: str,
        info: dbnames.DbInfo,
        doc: dict[str, Any],
        att: Attachment,
        target: str,
        key: str,
        may_exist: bool = False,
        offloaded: bool = False,
    ) -> NewItem:
        if not isinstance(key, str) or not key or len(key.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise DocError(doc, att.name[:80], f"its object name is empty or longer than {MAX_NAME_BYTES} bytes")
        return NewItem(
            db=dbnames.decode(db_name),
            doc_id=doc["_id"],
            attachment=att.name,
            target=target,
            object_key=key,
            digest=att.digest,
            length=att.length,
            content_type=att.content_type,
            account_id=info.account_id,
            pvt_type=str(doc.get("pvt_type")),
            may_exist=may_exist,
            offloaded=offloaded,
        )


def _skip(doc: dict[str, Any]) -> bool:
    # Deleted docs, Kazoo's credential probes and handler-error docs carry nothing to keep.
    return (
        doc.get("_deleted") is True
        or doc.get("pvt_deleted") is True
        or doc.get("pvt_type") in PROBE_TYPES
        or str(doc.get("_id", "")).startswith("_design/")
    )


def _is_received_fax(doc: dict[str, Any]) -> bool:
    return doc.get("pvt_type") == "fax" and doc.get("folder", "inbox") == "inbox"


def needs_pdf(attachment: str, content_type: str) -> bool:
    """Whether an item is the PDF made from a received fax's TIFF (see DocPlanner._fax_renditions)."""
    return content_type == PDF and attachment.lower().endswith(_TIFF_SUFFIXES)


def _rule_applies(rule: FlowRule, info: dbnames.DbInfo, doc: dict[str, Any]) -> bool:
    if rule.classification != info.classification or rule.pvt_type != doc.get("pvt_type"):
        return False
    if rule.accounts and info.account_id not in rule.accounts:
        return False
    # Received faxes only: Kazoo treats a missing folder as the inbox.
    return not (rule.pvt_type == "fax" and doc.get("folder", "inbox") != "inbox")
