"""Endpoints named by tenants are never given syncd's network position.

A storage document's S3 `host` is written by an account admin. syncd runs
inside the provider's network, next to CouchDB and often on a cloud host with
an instance-metadata service: an upload to 169.254.169.254, 127.0.0.1 or a
private address would let a tenant reach what only the host can. So before
syncd sends anything to a tenant's endpoint, the name is resolved and every
address it resolves to must be public, unless the operator allows it
([kazoo] allow_endpoints: host names, addresses or CIDR networks). CouchDB's
own address and port are refused whatever the allow-list says.

Resolution is cached for a short time and re-checked whenever the backend is
used after that, so a name that later resolves elsewhere is caught too.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from syncd.errors import UnsafeInput

_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*\.?$"
)
_REGION = re.compile(r"^[a-z0-9-]{1,40}$")
CACHE_SECONDS = 60.0
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def valid_host(host: str) -> bool:
    """A DNS name or an IP address literal (no spaces, no userinfo, no path)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return bool(_HOST.match(host))


def valid_region(region: str) -> bool:
    return bool(_REGION.match(region))


class EndpointPolicy:
    """Which addresses a tenant-named endpoint may resolve to."""

    def __init__(self, allowed: Iterable[str] = (), couch_url: str | None = None) -> None:
        self.allowed_names: set[str] = set()
        self.allowed_nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allowed:
            try:
                self.allowed_nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.allowed_names.add(entry.lower().rstrip("."))
        self._couch = _host_port(couch_url) if couch_url else None
        self._cache: dict[tuple[str, int], tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def check_url(self, url: str) -> None:
        """Raise UnsafeInput when url's host resolves anywhere a tenant may not send syncd."""
        host, port = _host_port(url)
        key = (host, port)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None or time.monotonic() - cached[0] > CACHE_SECONDS:
            cached = (time.monotonic(), self._verdict(host, port))
            with self._lock:
                self._cache[key] = cached
        if cached[1] is not None:
            raise UnsafeInput(cached[1])

    def _verdict(self, host: str, port: int) -> str | None:
        addresses = _resolve(host, port)
        if not addresses:
            return f"endpoint {host!r} does not resolve; nothing was sent (it is checked again later)"
        for address in addresses:
            if self._couch is not None and port == self._couch[1] and address in _resolve(*self._couch):
                return (
                    f"endpoint {host}:{port} is CouchDB's own address; a storage document may never "
                    "send syncd there (nothing was sent)"
                )
            if not address.is_global and not self._allowed(host, address):
                return (
                    f"endpoint {host!r} resolves to {address}, a {_kind(address)} address; tenant "
                    "storage documents may only name public endpoints, so nothing was sent. If this "
                    "endpoint is yours, add it to [kazoo] allow_endpoints"
                )
        return None

    def _allowed(self, host: str, address: Address) -> bool:
        if host.lower().rstrip(".") in self.allowed_names:
            return True
        return any(address.version == net.version and address in net for net in self.allowed_nets)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeInput(f"endpoint {url!r} has an invalid port") from None
    host = parts.hostname or ""
    if not valid_host(host):
        raise UnsafeInput(f"endpoint {url!r} has no valid host name")
    return host, port


def _resolve(host: str, port: int) -> set[Address]:
    try:
        return {
            ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            for info in socket.getaddrinfo(host.strip("[]"), port, proto=socket.IPPROTO_TCP)
        }
    except (OSError, UnicodeError, ValueError):
        return set()


def _kind(address: Address) -> str:
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "non-public"
