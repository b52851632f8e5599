"""systemd's notify protocol: one datagram to $NOTIFY_SOCKET (sd_notify(3)).
A dozen lines of stdlib beat a C dependency for it."""

from __future__ import annotations

import os
import socket


def notify(message: str) -> None:
    """Send e.g. "READY=1"; does nothing when not started by systemd with Type=notify."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())
