"""The Kazoo release syncd writes for: `[kazoo] version`, "4.3" (production's) or "master".

Everything that differs between the two, read from each branch's sources, is here
and nowhere else, so a flow asks this module instead of carrying its own copy:

- Crossbar's CDR CSV columns (cb_cdrs.erl ?COLUMNS on 4.3, kzd_cdrs.hrl on master)
  and how `datetime` is printed (`YYYY-MM-DD HH:MM:SS` on 4.3, `_` between date and
  time on master, kz_time:pretty_print_datetime);
- media.json's `content_length` maximum (5,242,880 bytes on 4.3, 11,534,336 on master);
- where Crossbar takes a media's audio (`POST /media/{id}/raw` on 4.3; master takes it
  at `/media/{id}` itself and calls `/raw` deprecated).
"""

from __future__ import annotations

from dataclasses import dataclass

V43 = "4.3"
MASTER = "master"
VERSIONS = (V43, MASTER)
DEFAULT = V43

_COMMON_HEAD = (
    "id",
    "call_id",
    "caller_id_number",
    "caller_id_name",
    "callee_id_number",
    "callee_id_name",
    "duration_seconds",
    "billing_seconds",
    "timestamp",
    "hangup_cause",
)
_PARTIES = (
    "other_leg_call_id",
    "owner_id",
    "to",
    "from",
    "direction",
    "request",
    "authorizing_id",
    "cost",
    "dialed_number",
    "calling_from",
    "datetime",
    "unix_timestamp",
)
_TAIL = (
    "rfc_1036",
    "iso_8601",
    "iso_8601_combined",
    "call_type",
    "rate",
    "rate_name",
    "bridge_id",
    "recording_url",
    "media_recordings",
    "media_server",
    "call_priority",
    "interaction_id",
)


@dataclass(frozen=True)
class KazooVersion:
    name: str
    cdr_columns: tuple[str, ...]
    datetime_separator: str  # between date and time in the CDR `datetime` column
    media_max_bytes: int  # media.json content_length maximum
    media_audio_path: str  # appended to /media/{id} for the audio upload


KAZOO_43 = KazooVersion(
    V43,
    (*_COMMON_HEAD, "disposition", *_PARTIES, *_TAIL),  # "[4.3] add disposition" (2021)
    " ",
    5_242_880,
    "/raw",
)
KAZOO_MASTER = KazooVersion(
    MASTER,
    (*_COMMON_HEAD, *_PARTIES, "unix_timestamp_micro", *_TAIL),
    "_",
    11_534_336,
    "",
)
_BY_NAME = {KAZOO_43.name: KAZOO_43, KAZOO_MASTER.name: KAZOO_MASTER}


def kazoo_version(name: str) -> KazooVersion:
    """The facts of a release by its config name (config has already refused any other)."""
    return _BY_NAME[name]
