"""Rows of cells into records, the way people lay out a table: a header row (after any title rows), columns named
in it, and the empty columns and rows that spreadsheets export all the time set aside.

CSV files and workbook sheets both come here, so a column is named, and a row counted, the same way in each.
"""

import re
from dataclasses import dataclass, field


def column_letter(index: int) -> str:
    """The spreadsheet's name for column `index` (0-based): A, B, ... Z, AA, AB ..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def header_names(cells: list[str]) -> list[str | None]:
    """Each header cell as its words (stray spaces and line breaks set aside); None for an empty one. A name used
    twice is told apart by its column's letter: "Answer", then "Answer (column D)"."""
    names, seen = [], set()
    for index, cell in enumerate(cells):
        name = re.sub(r"\s+", " ", cell).strip() or None
        if name is not None and name.casefold() in seen:
            name = f"{name} (column {column_letter(index)})"
        if name is not None:
            seen.add(name.casefold())
        names.append(name)
    return names


def filled(cells) -> int:
    return sum(bool(cell.strip()) for cell in cells)


TITLE_ROWS = 3  # rows of one cell above the header read as titles; a fourth such row makes it a table of one column


@dataclass
class Table:
    """Reads the rows of one table in order: the header is the first row with two or more filled cells (up to three
    rows of one cell above it are titles), or, in a table of one column, its first row; the rows after it become
    records."""

    delimiter: str | None = None  # named in the fix for a row with more cells than the header (CSV only)
    header: list | None = None
    pending: list = field(default_factory=list)  # rows of one cell: titles, or a table of one column

    def take(self, number: int, cells: list[str]) -> list[tuple]:
        """What a row gives: [("record", number, dict)] or [("problem", number, (message, fix))]; [] for a header,
        title or empty row."""
        if not filled(cells):
            return []
        if self.header is not None:
            return [self.record(number, cells)]
        if filled(cells) == 1 and len(self.pending) < TITLE_ROWS:
            self.pending.append((number, cells))
            return []
        if filled(cells) == 1:
            return self.finish() + self.take(number, cells)
        self.pending, self.header = [], header_names(cells)
        return []

    def finish(self) -> list[tuple]:
        """At the end of the rows (or of the titles): rows of one cell held back are a table of one column."""
        if self.header is not None or not self.pending:
            return []
        (_, first), *rest = self.pending
        self.pending, self.header = [], header_names(first)
        return [self.record(number, cells) for number, cells in rest]

    def record(self, number: int, cells: list[str]) -> tuple:
        width = len(self.header)
        if any(cell.strip() for cell in cells[width:]):
            last = max(i for i, cell in enumerate(cells) if cell.strip()) + 1
            fix = (f"Put quotes around texts that contain {self.delimiter!r}, or fix the row." if self.delimiter
                   else "Give the column a name in the header row.")
            return "problem", number, (f"this row has {last} cells but the header has {width}", fix)
        record = {}
        for index, name in enumerate(self.header):
            value = cells[index] if index < len(cells) else ""
            if name is None:
                if not value.strip():
                    continue
                name = f"Column {column_letter(index)}"  # data under an empty header cell: named as the sheet does
            record[name] = value
        return "record", number, record
