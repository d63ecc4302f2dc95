"""Read the workbooks people keep their data in: Excel (.xlsx, .xlsm, .xls), OpenDocument (.ods) and Numbers, each
sheet as rows of cell text, by its name.

Excel and OpenDocument are read by calamine, Numbers by numbers-parser: formulas come as the values they last showed,
a merged cell as the value it shows in each cell it covers, and a two-row header of merged groups as one row.
"""

import datetime
import re
from pathlib import Path

from .tables import filled

SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
SUB_HEADER_CHARS = 40  # a cell under a merged header cell longer than this is data, not a column's name


class WorkbookError(Exception):
    """A workbook that cannot be read; the message says why in plain words."""


def is_workbook(path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def cell_text(value) -> str:
    """A cell as the sheet shows it: 3 for 3.0, a date as 2024-05-01, a time without empty seconds."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.15g}"
    if isinstance(value, datetime.datetime):
        return value.isoformat(" ", "minutes" if value.second == 0 and not value.microsecond else "seconds") \
            if (value.hour, value.minute, value.second) != (0, 0, 0) else value.date().isoformat()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def _calamine(path: Path) -> list:
    """(name, load) of each sheet of an Excel or OpenDocument workbook; load() gives its (rows, merges), so naming
    the sheets reads none of their cells."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
    except (CalamineError, ValueError, OSError) as error:
        raise WorkbookError(_words(error)) from None

    def load(name: str):
        try:
            sheet = book.get_sheet_by_name(name)
            rows = sheet.to_python(skip_empty_area=False)
            merges = sheet.merged_cell_ranges or []
        except (CalamineError, ValueError) as error:
            raise WorkbookError(f"its sheet \u201c{name}\u201d cannot be read ({_words(error)})") from None
        return [[cell_text(cell) for cell in row] for row in rows], merges

    return [(name, lambda name=name: load(name)) for name in book.sheet_names]


def _numbers(path: Path) -> list:
    """(name, load) of each table of a Numbers document, named "Sheet 1", or "Sheet 1: Table 2" where a sheet holds
    several tables; load() gives its (rows, merges)."""
    from numbers_parser import Document

    try:
        document = Document(str(path))
    except Exception as error:  # numbers-parser raises its own kinds and plain ones for a damaged file
        raise WorkbookError(_words(error)) from None

    def load(table):
        rows = [[cell_text(cell) for cell in row] for row in table.rows(values_only=True)]
        return rows, [_cell_range(text) for text in table.merge_ranges]

    return [(sheet.name if len(sheet.tables) == 1 else f"{sheet.name}: {table.name}",
             lambda table=table: load(table)) for sheet in document.sheets for table in sheet.tables]


def _cell_range(text: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """"A1:B2" as ((row, column), (row, column)), 0-based."""
    def cell(ref):
        letters, digits = re.fullmatch(r"([A-Z]+)(\d+)", ref).groups()
        column = 0
        for letter in letters:
            column = column * 26 + ord(letter) - 64
        return int(digits) - 1, column - 1

    first, _, last = text.partition(":")
    return cell(first), cell(last or first)


def _words(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    if "password" in text.lower() or "encrypt" in text.lower():
        return "the workbook is protected with a password"
    return f"it is damaged or not really a workbook ({text[:200]})"


def _sheets(path: Path) -> list:
    return _numbers(path) if path.suffix.lower() == ".numbers" else _calamine(path)


def has_data(rows: list[list[str]]) -> bool:
    """Two rows with text: a header and at least one example."""
    return sum(filled(row) > 0 for row in rows) >= 2


def sheet_names(path) -> list[str]:
    """The names of the workbook's sheets, in order; raises WorkbookError."""
    return [name for name, _ in _sheets(Path(path))]


def read_sheet(path, name: str | None = None) -> tuple[str, list[tuple[int, list[str]]]]:
    """(the sheet's name, its rows as (row number as the sheet shows it, cells)), merged cells filled in and a two-row
    header joined into one; without a name, the first sheet with data. Raises WorkbookError."""
    sheets = _sheets(Path(path))
    for sheet, load in sheets:
        if name is not None and sheet != name:
            continue
        rows, merges = load()
        if name is not None or has_data(rows):
            return sheet, _laid_out(rows, merges)
    if name is not None:
        raise WorkbookError(f"it has no sheet named \u201c{name}\u201d; its sheets are "
                            + ", ".join(f"\u201c{s}\u201d" for s, _ in sheets))
    raise WorkbookError("none of its sheets has data (a row of column names and a row under it)" if sheets
                        else "it has no sheets")


def _fill(rows: list[list[str]], merges) -> list[list[str]]:
    """Every cell of a merged range shows the value of its first cell, as the person sees the sheet."""
    rows = [list(row) for row in rows]
    for (top, left), (bottom, right) in merges:
        if top >= len(rows) or left >= len(rows[top]):
            continue
        value = rows[top][left]
        for r in range(top, min(bottom, len(rows) - 1) + 1):
            for c in range(left, min(right, len(rows[r]) - 1) + 1):
                rows[r][c] = value
    return rows


def _header_row(rows: list[list[str]]) -> int | None:
    return next((i for i, row in enumerate(rows) if filled(row) >= 2), None)


def _laid_out(rows: list[list[str]], merges) -> list[tuple[int, list[str]]]:
    """Rows with their numbers, merged cells filled in below any title; where the header row has cells merged across
    columns and the row under it names those columns (short texts), the two rows become one header: "Customer Name",
    "Customer Email"."""
    top = _header_row(rows)  # before filling: a title merged across the table is one cell, not a header
    if top is None:
        return [(i + 1, row) for i, row in enumerate(rows)]
    merges = [m for m in merges if m[0][0] >= top]
    rows = _fill(rows, merges)
    numbered = [(i + 1, row) for i, row in enumerate(rows)]
    across = [(left, right) for (r0, left), (r1, right) in merges if r0 == r1 == top and right > left]
    if not across or top + 1 >= len(rows):
        return numbered
    under = rows[top + 1]
    named = [c < len(under) and under[c].strip() and len(under[c]) <= SUB_HEADER_CHARS
             and not re.fullmatch(r"[\d.,:\- ]+", under[c]) for left, right in across for c in range(left, right + 1)]
    if not all(named):
        return numbered
    joined = [" ".join(part for part in (above.strip(), below.strip()) if part)
              for above, below in zip(rows[top], under + [""] * (len(rows[top]) - len(under)))]
    return numbered[:top] + [(top + 1, joined)] + numbered[top + 2:]
