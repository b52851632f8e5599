"""Reading Drive's changes log: which files changed or went since a token, page by page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncd.backends.base import ObjectChange


def read_changes(
    changes: Any, run: Callable[[str, Any], Any], token: str, drive_id: str | None
) -> tuple[list[ObjectChange], str] | None:
    """Every change after token and the token for next time (None: the log ended without one).
    A removed file and a trashed one are both gone. changes: the service's changes() resource;
    run: the backend's call-with-retries."""
    out: list[ObjectChange] = []
    page: str | None = token
    args: dict[str, Any] = {
        "supportsAllDrives": True,
        "includeItemsFromAllDrives": True,
        "includeRemoved": True,
        "pageSize": 1000,
    }
    if drive_id:
        args["driveId"] = drive_id
    while page:
        answer = run(
            "read the changes log",
            changes.list(
                pageToken=page,
                fields="nextPageToken,newStartPageToken,changes(fileId,removed,file(trashed))",
                **args,
            ),
        )
        for change in answer.get("changes", []):
            gone = bool(change.get("removed")) or bool((change.get("file") or {}).get("trashed"))
            out.append(ObjectChange(change["fileId"], gone))
        if "newStartPageToken" in answer:
            return out, str(answer["newStartPageToken"])
        page = answer.get("nextPageToken")
    return None
