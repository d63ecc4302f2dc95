"""Read raw records from whatever a person has: JSONL, JSON arrays, CSV/TSV, workbooks, Parquet, Arrow folders.

Files stream record by record, so a 1 GB JSONL is never held in memory (a JSON array, up to MOST_WHOLE_BYTES, and a
workbook's sheet are read whole); every unreadable place becomes a Problem with the file and line, never an exception.
"""

import codecs
import csv
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem, sheet_unit
from . import workbooks
from .tables import Table

MAX_LINE_BYTES = 16 * 1024 * 1024  # one example larger than this is a mistake, not data
SNIFF_BYTES = 64 * 1024
MOST_WHOLE_BYTES = 256 * 1024 * 1024  # a JSON array is parsed whole, in memory several times its size
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", *workbooks.SUFFIXES, ".parquet", ".arrow")
KINDS = "JSONL, JSON, CSV, TSV, Excel, Numbers, OpenDocument or Parquet"  # the files read, as a person names them
DELIMITERS = ",;\t|"
WESTERN_MARKS = "\u201c\u201d\u2018\u2019\u2013\u2014\u2026\u20ac\u00a3"  # quotes, dashes, euro, pound
ENCODING_NAMES = {"cp1252": "Windows-1252 (Western European)", "mac-roman": "Mac Roman (Western European)",
                  "cp1251": "Windows-1251 (Cyrillic)", "cp932": "Shift JIS (Japanese)",
                  "shift_jis": "Shift JIS (Japanese)", "gb18030": "GB18030 (Chinese)", "big5": "Big5 (Chinese)"}
UTF8_FIX = "Save the file as UTF-8 (in most editors: Save As, then Encoding: UTF-8)."
JSONL_FIX = "Write exactly one JSON object on each line."


@dataclass
class Row:
    """One raw record, or the problem that stood where it should have been."""

    file: str
    line: int | None
    record: dict | None = None
    problem: Problem | None = None
    unit: str = "line"


def _problem(path, line, message, fix, severity="error", unit="line") -> Row:
    return Row(str(path), line, problem=Problem(severity, message, str(path), line, fix=fix, unit=unit), unit=unit)


def is_arrow_folder(folder: Path) -> bool:
    """A folder written by Hugging Face `datasets`' save_to_disk (one split)."""
    return (folder / "state.json").exists() and any(folder.glob("*.arrow"))


def dataset_dict_splits(folder: Path) -> dict[str, Path] | None:
    """Split name -> folder of a DatasetDict saved with save_to_disk, else None."""
    info = folder / "dataset_dict.json"
    if not info.exists():
        return None
    try:
        names = json.loads(info.read_text(encoding="utf-8"))["splits"]
    except (ValueError, KeyError, TypeError):
        return None
    return {name: folder / name for name in names if is_arrow_folder(folder / name)}


def _folder_files(source: Path, readable: bool) -> list[Path]:
    """The files of a plain data folder (hidden ones aside) that Tailor reads, or that it does not."""
    return sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith(".")
                  and (p.suffix.lower() in SUFFIXES) == readable)


def source_files(source: Path) -> list[Path]:
    """The data files a source stands for: itself, or the readable files of a folder."""
    source = Path(source)
    if not source.is_dir():
        return [source]
    if is_arrow_folder(source):
        return sorted(source.glob("*.arrow"))
    return _folder_files(source, readable=True)


def left_out(source: Path) -> list[Path]:
    """The files of a data folder that are not read: of a type Tailor does not read."""
    source = Path(source)
    if not source.is_dir() or is_arrow_folder(source) or dataset_dict_splits(source) is not None:
        return []
    return _folder_files(source, readable=False)


def read(path: Path, sheet: str | None = None):
    """Yield a Row for each record of one file; of a workbook, of the sheet named (else the first with data)."""
    path = Path(path)
    if not path.is_file():
        yield _problem(path, None, "file not found", "Check the path.")
        return
    suffix = path.suffix.lower()
    if workbooks.is_workbook(path):
        yield from _read_workbook(path, sheet)
    elif suffix == ".parquet":
        yield from _read_parquet(path)
    elif suffix == ".arrow":
        yield from _read_arrow(path)
    else:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
        if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            yield _problem(path, None, "is not a text file (it holds binary data)",
                           f"Choose the data file itself: {KINDS}.")
        elif suffix in (".csv", ".tsv"):
            yield from _read_csv(path, head, "\t" if suffix == ".tsv" else None)
        elif suffix == ".json" and head.lstrip(codecs.BOM_UTF8).lstrip().startswith(b"["):
            yield from _read_json_array(path)
        else:
            yield from _read_jsonl(path)


def _lines(handle):
    """(number, bytes or None when longer than MAX_LINE_BYTES, length) of each line of a binary file."""
    number = 0
    while True:
        chunk = handle.readline(MAX_LINE_BYTES + 1)
        if not chunk:
            return
        number += 1
        if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
            length = len(chunk)
            while chunk and not chunk.endswith(b"\n"):  # skip the rest of the giant line
                chunk = handle.readline(MAX_LINE_BYTES)
                length += len(chunk)
            yield number, None, length
        else:
            yield number, chunk, len(chunk)


def _read_jsonl(path: Path):
    seen_any = crlf_noted = blank_noted = False
    with open(path, "rb") as handle:
        for number, raw, length in _lines(handle):
            if raw is None:
                seen_any = True  # the file is not empty: its line is too long
                yield _problem(path, number, f"this line is {length / 1e6:.1f} MB long, too long for one example",
                               "Put one example on each line; split very long texts into parts.")
                continue
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
                yield _problem(path, 1, "the file starts with a byte-order mark, which mlx-lm cannot read",
                               "Nothing to do: Tailor removes it when it prepares the data.", "fixable")
            if raw.endswith(b"\r\n") and not crlf_noted:
                crlf_noted = True
                yield _problem(path, number, "the file has Windows (CRLF) line endings",
                               "Nothing to do: Tailor writes plain line endings when it prepares the data.", "fixable")
            if not raw.strip():
                if not blank_noted:
                    blank_noted = True
                    yield _problem(path, number, "blank line; mlx-lm stops at blank lines",
                                   "Nothing to do: Tailor leaves blank lines out when it prepares the data.",
                                   "fixable")
                continue
            seen_any = True
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield _problem(path, number, f"byte 0x{raw[error.start]:02x} at column {error.start + 1} "
                                             "is not UTF-8 text", UTF8_FIX)
                continue
            try:
                yield Row(str(path), number, json.loads(text))
            except json.JSONDecodeError as error:
                if number == 1 and (whole := _whole_json(path)) is not None:
                    yield from whole
                    return
                yield _problem(path, number, json_words(error), JSONL_FIX)
    if not seen_any:
        yield _problem(path, None, "the file is empty",
                       'Add one example per line, e.g. {"prompt": "Hi", "completion": "Hello!"}')


JSON_WORDS = {  # json's own messages, as a person who does not write JSON would say them, and where they point
    "Expecting ',' delimiter": ("a comma is missing", "before"),
    "Expecting ':' delimiter": ("a colon (:) is missing after a name", "before"),
    "Expecting property name enclosed in double quotes": ("a name is not in double quotes, or a comma is one "
                                                          "too many", "at"),
    "Expecting value": ("a value is missing, or a comma is one too many", "at"),
    "Unterminated string starting at": ("a closing quote is missing for the text that starts", "at"),
    "Invalid control character at": ("a line break or tab inside quotes must be written as \\n or \\t", "at"),
    "Invalid \\escape": ("a backslash (\\) inside quotes must be written twice (\\\\)", "at"),
    "Extra data": ("there is more after the end of the example", "at"),
}


def json_words(error: json.JSONDecodeError) -> str:
    """'a comma is missing before `"answer"` (character 46)': where the JSON breaks, in plain words."""
    words, where = JSON_WORDS.get(error.msg, (f"the JSON is broken ({error.msg})", "at"))
    near = error.doc[error.pos:error.pos + 12].split("\n")[0].strip()
    if not near:
        return "the line ends too early: a closing } or ] is missing (or the example goes on on the next line)"
    return f"{words} {where} `{near}` (character {error.colno})"


def _whole_json(path: Path):
    """Rows of a file whose first line opens a multi-line JSON value, or None if it is not one.

    An array is read as the examples; one object is explained.
    """
    if path.stat().st_size > MOST_WHOLE_BYTES:
        return None
    try:
        value = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(value, list):
        return [_problem(path, 1, "the file is a JSON array, not one example per line",
                         "Nothing to do: Tailor reads arrays and writes JSON lines when it prepares the data.",
                         "fixable"), *_items(path, value)]
    if isinstance(value, dict):
        return [_problem(path, 1, "the file is one JSON object spread over several lines",
                         "Put each example on its own line (JSONL), or make the file a JSON array: [{...}, {...}].")]
    return None


def _items(path, items):
    for index, item in enumerate(items, start=1):
        yield Row(str(path), index, item, unit="item")


def _read_json_array(path: Path):
    if path.stat().st_size > MOST_WHOLE_BYTES:
        yield _problem(path, None, f"a JSON array of {path.stat().st_size / 2**20:,.0f} MB is more than Tailor reads "
                                   f"whole ({MOST_WHOLE_BYTES // 2**20} MB)",
                       "Save it as JSONL, one example a line: that is read a line at a time, at any size.")
        return
    try:
        items = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        yield _problem(path, None, f"byte at offset {error.start} is not UTF-8 text", UTF8_FIX)
        return
    except json.JSONDecodeError as error:
        yield _problem(path, error.lineno, json_words(error),
                       "Repair the JSON array; an editor with JSON checking shows the place.")
        return
    if not items:
        yield _problem(path, None, "the file is an empty array", "Add examples to the array.")
    yield from _items(path, items)


def _encoding(head: bytes) -> str:
    """UTF-8 (with or without its mark), UTF-16 as Excel's "Unicode text" writes it, or the best guess for an older
    encoding (Windows or Mac Western, Cyrillic, Japanese, ...), which the person is told about."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        head[: len(head) - 4 if len(head) == SNIFF_BYTES else None].decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is not None and any("Latin" not in alphabet and "Control" not in alphabet for alphabet in best.alphabets):
        return best.encoding  # Cyrillic, Greek, Japanese...: the detector knows these well
    return max(("cp1252", "mac_roman"), key=lambda encoding: _western_score(head, encoding))


def _western_score(head: bytes, encoding: str) -> float:
    """How much like Western European text the bytes read: accented small letters are common, capitals rarer, and
    symbols or undefined bytes a sign of the wrong encoding (Excel on a Mac saves Mac Roman, on Windows
    Windows-1252)."""
    text = head.decode(encoding, errors="replace")
    return sum(2 if ch.isalpha() and ch.islower() else 1 if ch in WESTERN_MARKS else 0.5 if ch.isalpha() else -2
               for ch in text if ord(ch) > 127)


def _delimiter(sample: str) -> str:
    """The delimiter of a CSV export: the sniffer's, else the one the header row holds most of."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = sample.split("\n", 1)[0]
        return max(DELIMITERS, key=first.count) if any(d in first for d in DELIMITERS) else ","


def _read_csv(path: Path, head: bytes, delimiter: str | None):
    encoding = _encoding(head)
    if encoding not in ("utf-8-sig", "utf-16"):
        name = ENCODING_NAMES.get(codecs.lookup(encoding).name, codecs.lookup(encoding).name)
        yield _problem(path, None, f"the file is not UTF-8; read as {name}",
                       "If letters look wrong in the preview, save the file as UTF-8.", "warning")
    delimiter = delimiter or _delimiter(head.decode(encoding, errors="replace").lstrip("\ufeff"))
    csv.field_size_limit(MAX_LINE_BYTES)
    table = Table(delimiter)
    with open(path, encoding=encoding, errors="strict", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            last = 0
            for cells in reader:
                yield from _taken_rows(path, table.take(reader.line_num, cells), "line")
                if reader.line_num - last > 1 and table.header and _runs_on(cells, len(table.header), delimiter):
                    yield _problem(path, last + 1, f"this row runs on over {reader.line_num - last} lines, which "
                                                   "look like rows of their own",
                                   "A quote is probably missing on this row: every opening quote needs a closing one. "
                                   "If its line breaks are meant, nothing to do.", "warning")
                last = reader.line_num
        except UnicodeDecodeError:
            yield _problem(path, reader.line_num + 1, f"the text is not valid {encoding} here", UTF8_FIX)
            return
        except csv.Error as error:
            yield _problem(path, reader.line_num, f"cannot read this row ({error})",
                           "Check the quotes on this row: every opening quote needs a closing one.")
            return
    yield from _table_end(path, table, "line")


def _runs_on(cells: list[str], width: int, delimiter: str) -> bool:
    """Whether a row's text that spans lines holds, on a later line, as many delimiters as a row of `width` columns
    would: the sign of an opening quote without its closing one, which swallows the rows after it."""
    return any(line.count(delimiter) >= max(width - 1, 1) for cell in cells for line in cell.split("\n")[1:])


def _taken_rows(path: Path, taken: list[tuple], unit: str):
    for kind, number, value in taken:
        yield Row(str(path), number, value, unit=unit) if kind == "record" else _problem(path, number, *value,
                                                                                          unit=unit)


def _table_end(path: Path, table: Table, unit: str):
    yield from _taken_rows(path, table.finish(), unit)
    if table.header is None:
        yield _problem(path, None, "the file is empty", "Add a header row and one example per row.")


def _read_workbook(path: Path, sheet: str | None):
    try:
        name, rows = workbooks.read_sheet(path, sheet)
    except workbooks.WorkbookError as error:
        yield _problem(path, None, f"cannot be read: {error}",
                       "Open it in Excel or Numbers and save it again, or export the sheet as CSV.")
        return
    table, unit = Table(), sheet_unit(name)
    for number, cells in rows:
        yield from _taken_rows(path, table.take(number, cells), unit)
    yield from _table_end(path, table, unit)


def _read_parquet(path: Path):
    import pyarrow
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=1024)
        yield from _table_rows(path, batches)
    except (pyarrow.ArrowException, OSError) as error:
        yield _problem(path, None, f"not a readable Parquet file ({error})", "Export the data again as Parquet.")


def _read_arrow(path: Path):
    import pyarrow
    import pyarrow.ipc as ipc

    try:
        with pyarrow.memory_map(str(path)) as source:
            try:
                reader = ipc.open_stream(source)
            except pyarrow.ArrowInvalid:
                reader = ipc.open_file(source)
                reader = (reader.get_batch(i) for i in range(reader.num_record_batches))
            yield from _table_rows(path, reader)
    except (pyarrow.ArrowException, OSError) as error:
        yield _problem(path, None, f"not a readable Arrow file ({error})",
                       "Give the folder written by save_to_disk, unchanged.")


def _table_rows(path: Path, batches):
    number = 0
    for batch in batches:
        for record in batch.to_pylist():
            number += 1
            yield Row(str(path), number, record, unit="row")
    if number == 0:
        yield _problem(path, None, "the file has no rows", "Add examples.")
