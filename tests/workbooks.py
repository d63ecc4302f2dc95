"""Workbooks and CSV exports as people save them, written by the tests themselves: Excel (openpyxl, and xlwt for
the old .xls), OpenDocument (odfpy), Numbers (numbers-parser), and Sheets' and Excel's CSV exports.
"""

import re
import zipfile
from pathlib import Path

EMAILS = [(f"Hello, my order {n} has not arrived yet. Can you check where it is?",
           f"Sorry about that! Order {n} left our warehouse yesterday and should reach you within two days.")
          for n in range(1, 31)]


def xlsx(path: Path, sheets: dict, merges: dict | None = None) -> Path:
    """An Excel workbook: sheet name -> rows (None for an empty cell), with merged ranges ("A1:C1") per sheet."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
        for cells in (merges or {}).get(name, []):
            sheet.merge_cells(cells)
    book.save(path)
    return path


def with_cached_formula(path: Path, cell: str, formula: str, shown: str) -> Path:
    """Give cell `cell` of the first sheet a formula and the value Excel last showed for it, as Excel saves it
    (openpyxl writes formulas without their values)."""
    with zipfile.ZipFile(path) as book:
        files = {name: book.read(name) for name in book.namelist()}
    sheet = files["xl/worksheets/sheet1.xml"].decode()
    sheet, found = re.subn(rf'<c r="{cell}"[^>]*?(/>|>.*?</c>)',
                           f'<c r="{cell}" t="str"><f>{formula}</f><v>{shown}</v></c>', sheet)
    assert found == 1, sheet
    files["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, data in files.items():
            book.writestr(name, data)
    return path


def _filled_cells(rows):
    """(row, column, value) of each cell that holds something, 0-based."""
    return ((r, c, value) for r, row in enumerate(rows) for c, value in enumerate(row) if value is not None)


def xls(path: Path, rows) -> Path:
    """An Excel 97-2003 workbook of one sheet."""
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("Replies")
    for r, c, value in _filled_cells(rows):
        sheet.write(r, c, value)
    book.save(str(path))
    return path


def ods(path: Path, rows) -> Path:
    """An OpenDocument spreadsheet of one sheet, as LibreOffice and Google Sheets save it."""
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    table = Table(name="Replies")
    for row in rows:
        line = TableRow()
        for value in row:
            cell = TableCell(valuetype="string") if value is not None else TableCell()
            if value is not None:
                cell.addElement(P(text=str(value)))
            line.addElement(cell)
        table.addElement(line)
    document.spreadsheet.addElement(table)
    document.save(str(path))
    return path


def numbers(path: Path, sheets: dict) -> Path:
    """A Numbers document: sheet name -> rows, one table each."""
    from numbers_parser import Document

    document = Document()
    for index, (name, rows) in enumerate(sheets.items()):
        if index:
            document.add_sheet(name)
        sheet = document.sheets[index]
        sheet.name = name
        for r, c, value in _filled_cells(rows):
            sheet.tables[0].write(r, c, value)
    document.save(str(path))
    return path


def sheets_csv(path: Path, rows, delimiter: str = ",", encoding: str = "utf-8", empty_columns: int = 2,
               empty_rows: int = 3) -> Path:
    """A CSV as Google Sheets and Excel export one: empty columns after the data, empty rows after the last one."""
    def line(cells):
        quoted = ['"' + str(c).replace('"', '""') + '"' if any(ch in str(c) for ch in f'{delimiter}"\n') else str(c)
                  for c in cells]
        return delimiter.join(quoted + [""] * empty_columns)

    text = "\r\n".join([line(row) for row in rows] + [delimiter * (len(rows[0]) + empty_columns - 1)] * empty_rows)
    path.write_bytes((text + "\r\n").encode(encoding))
    return path
