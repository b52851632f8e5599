"""Logging to stderr in a form journald keeps well, with secrets masked.

Under systemd (JOURNAL_STREAM set) each line starts with the sd-daemon
priority prefix "<N>", so journald records the right level; elsewhere the
level is spelled out. Every secret syncd learns (config passwords, S3
secrets from Kazoo storage docs) is registered with redact() and replaced by
"***" in every formatted line, tracebacks included.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
# Third-party loggers that are too chatty at debug level, and would log request details.
_QUIET = ("botocore", "boto3", "s3transfer", "urllib3", "apscheduler", "googleapiclient")


def redact(secret: str | None) -> None:
    """Mask this value in every log line from now on (values under 4 chars are ignored)."""
    if secret and len(secret) >= 4:
        with _LOCK:
            _SECRETS.add(secret)


def scrub(text: str) -> str:
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


class _Formatter(logging.Formatter):
    def __init__(self, journald: bool) -> None:
        super().__init__("%(message)s" if journald else "%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        text = scrub(super().format(record))
        if self.journald:
            prefix = f"<{_PRIORITY.get(record.levelno, 6)}>"
            return "\n".join(prefix + line for line in text.splitlines())
        return text


def setup(level: str = "info", third_party_debug: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(journald=bool(os.environ.get("JOURNAL_STREAM"))))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.DEBUG if third_party_debug else logging.WARNING)
    # "skipped: maximum number of running instances reached": a pass outlasting its interval
    # is normal (runs coalesce), and said every interval it would flood the journal
    logging.getLogger("apscheduler.scheduler").setLevel(logging.DEBUG if third_party_debug else logging.ERROR)
