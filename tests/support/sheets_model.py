"""Google Sheets v4, as strict as syncd needs it, served by the Drive test server (drive_server.py)
on the same port with the same tokens and faults: spreadsheets create/get, values get/update/
append/batchUpdate, batchUpdate addSheet, A1 ranges with quoted sheet names, Sheets' error
bodies, and its limits (50,000 characters a cell, 10 million cells a spreadsheet)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

MAX_CELL = 50_000
MAX_CELLS = 10_000_000
_A1 = re.compile(r"(?:(?P<sheet>'(?:[^']|'')+'|[^!':]+)!)?(?P<c1>[A-Z]+)?(?P<r1>\d+)?(?::(?P<c2>[A-Z]+)?(?P<r2>\d+)?)?")


class SheetsError(Exception):
    STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.STATUS.get(self.code, "UNKNOWN")}}


@dataclass
class Sheet:
    sheet_id: int
    title: str
    rows: list[list[Any]] = field(default_factory=list)

    def properties(self, index: int) -> dict[str, Any]:
        return {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": max(1000, len(self.rows)), "columnCount": 26},
        }


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    title: str
    sheets: list[Sheet]

    def resource(self) -> dict[str, Any]:
        return {
            "spreadsheetId": self.spreadsheet_id,
            "properties": {"title": self.title, "locale": "en_US", "timeZone": "Etc/GMT"},
            "sheets": [{"properties": s.properties(i)} for i, s in enumerate(self.sheets)],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit",
        }

    def sheet(self, title: str | None) -> Sheet:
        if title is None:
            return self.sheets[0]
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        raise SheetsError(400, f"Unable to parse range: {title}")

    def cells(self) -> int:
        return sum(len(r) for s in self.sheets for r in s.rows)


class Sheets:
    def __init__(self) -> None:
        self.books: dict[str, Spreadsheet] = {}

    def serve(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if path == "/v4/spreadsheets" and method == "POST":
            return self._create(body)
        match = re.fullmatch(r"/v4/spreadsheets/([^/:]+)(?::batchUpdate)?", path)
        if match and method == "GET" and not path.endswith(":batchUpdate"):
            return self._book(match[1]).resource()
        if match and method == "POST" and path.endswith(":batchUpdate"):
            return self._batch_update(self._book(match[1]), body)
        match = re.fullmatch(r"/v4/spreadsheets/([^/]+)/values:batchUpdate", path)
        if match and method == "POST":
            return self._values_batch_update(self._book(match[1]), body)
        match = re.fullmatch(r"/v4/spreadsheets/([^/]+)/values/(.+?)(:append)?", path)
        if match:
            book, a1 = self._book(match[1]), unquote(match[2])
            if match[3] and method == "POST":
                return self._append(book, a1, query, body)
            if method == "GET":
                return self._get(book, a1)
            if method == "PUT":
                entered = _input_option(query)
                return {"spreadsheetId": book.spreadsheet_id, **self._write(book, a1, body.get("values", []), entered)}
        raise SheetsError(404, f"Method not found: {method} {path}")

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        book_id = secrets.token_urlsafe(32)[:44]
        title = body.get("properties", {}).get("title") or "Untitled spreadsheet"
        wanted = [s.get("properties", {}).get("title") for s in body.get("sheets", [])] or ["Sheet1"]
        sheets = [Sheet(i if i else 0, t or f"Sheet{i + 1}") for i, t in enumerate(wanted)]
        self.books[book_id] = Spreadsheet(book_id, title, sheets)
        return self.books[book_id].resource()

    def _book(self, book_id: str) -> Spreadsheet:
        if book_id not in self.books:
            raise SheetsError(404, "Requested entity was not found.")
        return self.books[book_id]

    def _batch_update(self, book: Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
        replies = []
        for request in body.get("requests", []):
            if "addSheet" not in request:
                raise SheetsError(400, f"Invalid requests[0]: unsupported request {list(request)}")
            title = request["addSheet"].get("properties", {}).get("title")
            if any(s.title == title for s in book.sheets):
                raise SheetsError(400, f'Invalid requests[0].addSheet: A sheet with the name "{title}" already exists.')
            sheet = Sheet(secrets.randbelow(2**31 - 1) + 1, title)
            book.sheets.append(sheet)
            replies.append({"addSheet": {"properties": sheet.properties(len(book.sheets) - 1)}})
        return {"spreadsheetId": book.spreadsheet_id, "replies": replies}

    def _get(self, book: Spreadsheet, a1: str) -> dict[str, Any]:
        sheet, (c1, r1, c2, r2) = _range(book, a1)
        rows = sheet.rows[r1 - 1 : r2]
        values = [row[c1 - 1 : c2] for row in rows]
        while values and not any(v != "" for v in values[-1]):
            values.pop()
        out: dict[str, Any] = {"range": _a1(sheet, c1, r1, c2, r1 + max(len(values), 1) - 1), "majorDimension": "ROWS"}
        if values:
            out["values"] = [_trim(v) for v in values]
        return out

    def _append(self, book: Spreadsheet, a1: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        entered = _input_option(query)
        sheet, (c1, _, _, _) = _range(book, a1)
        start = len(sheet.rows) + 1  # after the table's last row with data
        width = max((len(r) for r in body.get("values", [])), default=0)
        target = _a1(sheet, c1, start, c1 + width - 1, start + len(body.get("values", [])) - 1)
        written = self._write(book, target, body.get("values", []), entered)
        return {
            "spreadsheetId": book.spreadsheet_id,
            "tableRange": _a1(sheet, 1, 1, width, start - 1),
            "updates": written,
        }

    def _values_batch_update(self, book: Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("valueInputOption") not in ("RAW", "USER_ENTERED"):
            raise SheetsError(400, "'valueInputOption' is required but not specified")
        entered = body["valueInputOption"] == "USER_ENTERED"
        responses = [self._write(book, d["range"], d.get("values", []), entered) for d in body.get("data", [])]
        return {
            "spreadsheetId": book.spreadsheet_id,
            "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
            "responses": responses,
        }

    def _write(self, book: Spreadsheet, a1: str, values: list[list[Any]], entered: bool) -> dict[str, Any]:
        """entered (USER_ENTERED): text is parsed as if typed, so "=..." becomes a formula (kept as
        FORMULA(...) here, as Sheets would run it); RAW keeps every value as given."""
        if entered:
            values = [
                [f"FORMULA({v[1:]})" if isinstance(v, str) and v.startswith("=") else v for v in r] for r in values
            ]
        sheet, (c1, r1, _, _) = _range(book, a1)
        for row in values:
            for value in row:
                if not isinstance(value, str | int | float | bool) and value is not None:
                    raise SheetsError(400, f"Invalid values[0]: {type(value).__name__} is not a cell value")
                if isinstance(value, str) and len(value) > MAX_CELL:
                    raise SheetsError(
                        400, f"Your input contains more than the maximum of {MAX_CELL} characters in a single cell."
                    )
        if book.cells() + sum(len(r) for r in values) > MAX_CELLS:
            raise SheetsError(
                400,
                f"This action would increase the number of cells in the workbook above the limit of {MAX_CELLS} cells.",
            )
        for offset, row in enumerate(values):
            index = r1 - 1 + offset
            while len(sheet.rows) <= index:
                sheet.rows.append([])
            line = sheet.rows[index]
            while len(line) < c1 - 1 + len(row):
                line.append("")
            line[c1 - 1 : c1 - 1 + len(row)] = ["" if v is None else v for v in row]
        width = max((len(r) for r in values), default=0)
        return {
            "spreadsheetId": book.spreadsheet_id,
            "updatedRange": _a1(sheet, c1, r1, c1 + width - 1, r1 + len(values) - 1),
            "updatedRows": len(values),
            "updatedColumns": width,
            "updatedCells": sum(len(r) for r in values),
        }


def _input_option(query: dict[str, str]) -> bool:
    """Whether values are USER_ENTERED (parsed as typed) rather than RAW."""
    if query.get("valueInputOption") not in ("RAW", "USER_ENTERED"):
        raise SheetsError(400, "'valueInputOption' is required but not specified")
    return query["valueInputOption"] == "USER_ENTERED"


def _range(book: Spreadsheet, a1: str) -> tuple[Sheet, tuple[int, int, int, int]]:
    match = _A1.fullmatch(a1)
    if not match:
        raise SheetsError(400, f"Unable to parse range: {a1}")
    name = match["sheet"]
    if name and name.startswith("'"):
        name = name[1:-1].replace("''", "'")
    sheet = book.sheet(name)
    c1 = _column(match["c1"]) if match["c1"] else 1
    r1 = int(match["r1"]) if match["r1"] else 1
    c2 = _column(match["c2"]) if match["c2"] else (c1 if match["c1"] and not match["r2"] and ":" not in a1 else 18278)
    r2 = int(match["r2"]) if match["r2"] else (r1 if match["r1"] and ":" not in a1 else 10_000_000)
    return sheet, (c1, r1, c2, r2)


def _column(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _letters(n: int) -> str:
    out = ""
    while n:
        n, rest = divmod(n - 1, 26)
        out = chr(65 + rest) + out
    return out


def _a1(sheet: Sheet, c1: int, r1: int, c2: int, r2: int) -> str:
    quoted = "'" + sheet.title.replace("'", "''") + "'" if not re.fullmatch(r"\w+", sheet.title) else sheet.title
    return f"{quoted}!{_letters(c1)}{r1}:{_letters(max(c1, c2))}{max(r1, r2)}"


def _trim(row: list[Any]) -> list[Any]:
    """Sheets drops trailing empty cells of a row it returns."""
    out = list(row)
    while out and out[-1] == "":
        out.pop()
    return out
