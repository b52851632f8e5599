"""[two_way]: deletions in both directions, their safety limits, scheduled
reconciliation, and [two_way.sqs] (S3 event notifications, which only feed deletes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from syncd.config.crossbar import OLD_KEYS as OLD_CROSSBAR_KEYS
from syncd.config.kinds import DAY, FLOW_KINDS
from syncd.config.validator import Validator

ON_KAZOO_DELETE = ("keep", "trash", "delete")
TWO_WAY_KINDS = ("voicemail", "recordings", "faxes")
INT_TWO_WAY_NUMBERS = ("max_deletes", "share_from", "max_deletes_per_run")  # counts; the others are seconds or shares


@dataclass(frozen=True)
class KindPolicy:
    """Two-way policy for one kind of document (voicemail, recordings, faxes)."""

    delete_in_kazoo: bool = False  # its object vanished from storage -> soft delete in Kazoo
    on_kazoo_delete: str = "keep"  # deleted in Kazoo -> keep | trash | delete its object


@dataclass(frozen=True)
class TwoWayConfig:
    kinds: dict[str, KindPolicy] = field(default_factory=lambda: {"voicemail": KindPolicy(True)})
    grace_period: float = 60.0
    scan_interval: float = 300.0
    recheck_interval: float = 2.0
    change_poll_interval: float = 10.0
    max_deletes: int = 20
    max_delete_share: float = 0.5
    share_from: int = 3
    max_deletes_per_run: int = 100
    guard_window: float = 3600.0
    reconcile_cron: str | None = "30 3 * * *"
    reconcile_jitter: float = 900.0
    sqs_queue_url: str | None = None
    sqs: dict[str, Any] = field(default_factory=dict, repr=False)

    def pvt_types(self, predicate: Any) -> frozenset[str]:
        return frozenset(FLOW_KINDS[k][1] for k, p in self.kinds.items() if predicate(p))

    def kazoo_delete_modes(self) -> dict[str, str]:
        """pvt_type -> "trash" | "delete", for the kinds that do not keep objects of docs deleted in Kazoo."""
        return {FLOW_KINDS[k][1]: p.on_kazoo_delete for k, p in self.kinds.items() if p.on_kazoo_delete != "keep"}


def two_way_config(v: Validator, t: dict[str, Any]) -> TwoWayConfig:
    numbers = {
        "grace_period": (60.0, 0, 30 * DAY),
        "scan_interval": (300.0, 1, 7 * DAY),
        "recheck_interval": (2.0, 0.1, 3600),
        "change_poll_interval": (10.0, 0.1, 3600),
        "max_deletes": (20, 0, 1_000_000),
        "max_delete_share": (0.5, 0, 1),
        "share_from": (3, 1, 1_000_000),
        "max_deletes_per_run": (100, 0, 1_000_000),
        "guard_window": (3600.0, 0, 30 * DAY),
        "reconcile_jitter": (900.0, 0, DAY),
    }
    v.unknown(t, "two_way", {*numbers, *TWO_WAY_KINDS, "reconcile_cron", *OLD_CROSSBAR_KEYS, "sqs"})
    values = {
        k: v.number(t, f"two_way.{k}", d, minimum=lo, maximum=hi, integer=isinstance(d, int))
        for k, (d, lo, hi) in numbers.items()
    }
    kinds = {kind: _kind_policy(v, v.table(t, kind), f"two_way.{kind}", kind == "voicemail") for kind in TWO_WAY_KINDS}
    cron = t.get("reconcile_cron", "30 3 * * *")
    if not _valid_cron(cron):
        v.problem(
            "two_way.reconcile_cron",
            f'must be a 5-field cron expression like "30 3 * * *", '
            f'or "" to turn scheduled reconciliation off (got {cron!r})',
        )
        cron = None
    sqs = _sqs(v, v.table(t, "sqs"))
    numbers_as_typed: dict[str, Any] = {**values, **{k: int(values[k]) for k in INT_TWO_WAY_NUMBERS}}
    return TwoWayConfig(
        kinds=kinds,
        reconcile_cron=cron or None,
        sqs_queue_url=sqs.pop("queue_url", None),
        sqs=sqs,
        **numbers_as_typed,
    )


def _valid_cron(cron: Any) -> bool:
    if cron == "":
        return True
    if not isinstance(cron, str) or len(cron.split()) != 5:
        return False
    try:
        CronTrigger.from_crontab(cron)
    except ValueError:
        return False
    return True


def _kind_policy(v: Validator, t: dict[str, Any], path: str, deletes_by_default: bool) -> KindPolicy:
    v.unknown(t, path, {"delete_in_kazoo", "on_kazoo_delete"})
    return KindPolicy(
        v.boolean(t, f"{path}.delete_in_kazoo", deletes_by_default),
        v.choice(t, f"{path}.on_kazoo_delete", ON_KAZOO_DELETE, "keep") or "keep",
    )


def _sqs(v: Validator, t: dict[str, Any]) -> dict[str, Any]:
    if not t:
        return {}
    v.unknown(
        t,
        "two_way.sqs",
        {
            "queue_url",
            "region",
            "endpoint_url",
            "access_key_id",
            "secret_access_key",
            "secret_access_key_file",
            "wait_seconds",
            "ambient_credentials",
        },
    )
    ambient = v.boolean(t, "two_way.sqs.ambient_credentials", False)
    if (t.get("access_key_id") is not None) == ambient:
        v.problem(
            "two_way.sqs.access_key_id",
            "give access_key_id and secret_access_key (or _file), or set "
            "ambient_credentials = true to use this host's own AWS identity - not both",
        )
    endpoint = t.get("endpoint_url")
    if isinstance(endpoint, str):
        v.url(endpoint, "two_way.sqs.endpoint_url")
    return {
        "queue_url": v.string(t, "two_way.sqs.queue_url", required=True),
        "region": v.string(t, "two_way.sqs.region"),
        "endpoint_url": v.string(t, "two_way.sqs.endpoint_url"),
        "access_key_id": v.string(t, "two_way.sqs.access_key_id"),
        "secret_access_key": v.secret(t, "two_way.sqs", "secret_access_key"),
        "wait_seconds": int(v.number(t, "two_way.sqs.wait_seconds", 10, minimum=0, maximum=20, integer=True)),
    }
