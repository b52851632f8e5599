"""[kazoo.crossbar]: the Crossbar (Kazoo REST API) connection syncd uses, for
voicemail deletes and for fax jobs alike.

It used to sit under [two_way] as crossbar_url and crossbar_api_key(_file),
though faxes use it too. Those keys still work: the config then carries a
deprecation notice naming the new keys (the CLI logs it at start); giving both
the old and the new form is a problem, since syncd cannot tell which one is meant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncd.config.validator import Validator

OLD_KEYS = ("crossbar_url", "crossbar_api_key", "crossbar_api_key_file")


@dataclass(frozen=True)
class CrossbarConfig:
    url: str
    api_key: str = field(repr=False)


def crossbar_config(
    v: Validator, kazoo: dict[str, Any], two_way: dict[str, Any], notices: list[str]
) -> CrossbarConfig | None:
    """The connection from [kazoo.crossbar], or from the old [two_way] keys with a notice."""
    new = v.table(kazoo, "crossbar")
    old = [key for key in OLD_KEYS if key in two_way]
    if old and new:
        v.problem(
            "kazoo.crossbar",
            f"the Crossbar connection is given twice: here and as [two_way] "
            f"{', '.join(old)}; keep [kazoo.crossbar] (url, api_key or api_key_file) only",
        )
        return None
    if old:
        notices.append(
            f"deprecated keys [two_way] {', '.join(old)}: they still work; move them to "
            f"[kazoo.crossbar] as {', '.join(key.removeprefix('crossbar_') for key in old)}"
        )
        return _connection(v, two_way, "two_way", "crossbar_")
    v.unknown(new, "kazoo.crossbar", {"url", "api_key", "api_key_file"})
    return _connection(v, new, "kazoo.crossbar", "")


def _connection(v: Validator, t: dict[str, Any], section: str, prefix: str) -> CrossbarConfig | None:
    """prefix: how the keys are named in section ("crossbar_" in [two_way], none in [kazoo.crossbar])."""
    url_path = f"{section}.{prefix}url"
    url = v.string(t, url_path)
    if url is not None and not v.url(url, url_path):
        url = None
    key = v.secret(t, section, f"{prefix}api_key")
    if bool(url) != bool(key):
        v.problem(url_path, f"give {prefix}url and {prefix}api_key (or {prefix}api_key_file) together")
        return None
    return CrossbarConfig(url, key) if url and key else None
