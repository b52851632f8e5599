"""Google Sheets v4 through google-api-python-client, with the credentials a google_drive backend
uses (a service-account key or an OAuth token; the Drive scope covers Sheets).

Not an object store: the CDR flow's Sheets sink (syncd/flows/cdr/sheets.py) talks to it, and
the Google SDKs stay in backends/ like the Drive backend's. Rate limits (429, 403
rateLimitExceeded) and 5xx are retried with Drive's backoff (exponential, jittered); other
errors become BackendUnavailable naming the spreadsheet.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import googleapiclient.discovery_cache
import googleapiclient.errors
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build_from_document
from googleapiclient.http import build_http

from syncd.backends.gdrive_io import TRANSPORT_ERRORS, Backoff, load_credentials
from syncd.errors import BackendUnavailable

RAW = "RAW"  # values are stored as given: a number stays a number, "+1415..." stays text


class SheetsClient:
    def __init__(
        self,
        credentials: str,
        subject: str | None = None,
        api_endpoint: str | None = None,
        num_retries: int = 6,
        retry_base: float = 1.0,
    ) -> None:
        self._credentials = load_credentials(credentials, subject)
        document = json.loads(googleapiclient.discovery_cache.get_static_doc("sheets", "v4"))
        if api_endpoint:
            document["rootUrl"] = api_endpoint.rstrip("/") + "/"
        self._document = document
        self._backoff = Backoff(num_retries, retry_base)
        self._local = threading.local()
        self.endpoint = api_endpoint or "Google Sheets"

    def create(self, title: str, sheet: str) -> str:
        """A new spreadsheet with one sheet named `sheet`; its id."""
        body = {"properties": {"title": title}, "sheets": [{"properties": {"title": sheet}}]}
        made = self._run(f"create spreadsheet {title!r}", self._api().create(body=body, fields="spreadsheetId"))
        return str(made["spreadsheetId"])

    def exists(self, spreadsheet_id: str) -> bool:
        try:
            self._run("open spreadsheet", self._api().get(spreadsheetId=spreadsheet_id, fields="spreadsheetId"))
        except BackendUnavailable as exc:
            if "HTTP 404" in str(exc):
                return False
            raise
        return True

    def column(self, spreadsheet_id: str, a1: str) -> list[str]:
        """The first column's values of the range, top to bottom ("" for an empty cell)."""
        got = self._run(
            f"read {a1} of spreadsheet {spreadsheet_id}",
            self._api().values().get(spreadsheetId=spreadsheet_id, range=a1, majorDimension="ROWS"),
        )
        return [str(row[0]) if row else "" for row in got.get("values", [])]

    def append(self, spreadsheet_id: str, a1: str, rows: list[list[Any]]) -> str:
        """Rows after the last row of the table at a1; the range they landed in (e.g. CDRs!A5:AJ9)."""
        request = (
            self._api()
            .values()
            .append(
                spreadsheetId=spreadsheet_id,
                range=a1,
                valueInputOption=RAW,
                insertDataOption="INSERT_ROWS",
                body={"values": rows},
            )
        )
        done = self._run(f"append {len(rows)} row(s) to spreadsheet {spreadsheet_id}", request)
        return str(done["updates"]["updatedRange"])

    def update(self, spreadsheet_id: str, ranges: dict[str, list[list[Any]]]) -> None:
        """Overwrite each range with its rows, in one request."""
        body = {"valueInputOption": RAW, "data": [{"range": r, "values": v} for r, v in ranges.items()]}
        request = self._api().values().batchUpdate(spreadsheetId=spreadsheet_id, body=body)
        self._run(f"update {len(ranges)} row(s) of spreadsheet {spreadsheet_id}", request)

    def describe(self) -> str:
        return f"Google Sheets ({self.endpoint})"

    def _api(self) -> Any:
        if not hasattr(self._local, "service"):  # httplib2 is not thread-safe: one client per thread
            http = AuthorizedHttp(self._credentials, http=build_http())
            self._local.service = build_from_document(self._document, http=http)
        return self._local.service.spreadsheets()

    def _run(self, what: str, request: Any) -> Any:
        try:
            return self._backoff.run(what, request.execute)
        except googleapiclient.errors.HttpError as exc:
            raise BackendUnavailable(
                f"Google Sheets refused to {what}: HTTP {exc.resp.status} {_message(exc)}"
            ) from None
        except TRANSPORT_ERRORS as exc:
            raise BackendUnavailable(f"cannot reach Google Sheets to {what}: {exc}") from None


def _message(exc: googleapiclient.errors.HttpError) -> str:
    try:
        return str(json.loads(exc.content)["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return str(exc.reason)[:300]
