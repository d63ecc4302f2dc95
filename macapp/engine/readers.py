"""Read raw records from whatever a person has: JSONL, JSON arrays, CSV/TSV, Parquet, Arrow folders.

Files stream record by record, so a 1 GB JSONL is never held in memory; every unreadable place
becomes a Problem with the file and line, never an exception.
"""

import codecs
import csv
import json
from dataclasses import dataclass
from pathlib import Path

from .errors import Problem

MAX_LINE_BYTES = 16 * 1024 * 1024  # one example larger than this is a mistake, not data
SNIFF_BYTES = 64 * 1024
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".arrow")
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


def read(path: Path):
    """Yield a Row for each record of one file."""
    path = Path(path)
    if not path.is_file():
        yield _problem(path, None, "file not found", "Check the path.")
        return
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _read_parquet(path)
    elif suffix == ".arrow":
        yield from _read_arrow(path)
    else:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
        if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            yield _problem(path, None, "is not a text file (it holds binary data)",
                           "Choose the data file itself: JSONL, JSON, CSV, TSV or Parquet.")
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
    if path.stat().st_size > 256 * 1024 * 1024:
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
    try:
        head[: len(head) - 4 if len(head) == SNIFF_BYTES else None].decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "cp1252"


def _read_csv(path: Path, head: bytes, delimiter: str | None):
    encoding = _encoding(head)
    if encoding == "cp1252":
        yield _problem(path, None, "the file is not UTF-8; read as Windows-1252 (Western European)",
                       "If letters look wrong in the preview, save the file as UTF-8.", "warning")
    if delimiter is None:
        sample = head.decode(encoding, errors="replace")
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    csv.field_size_limit(MAX_LINE_BYTES)
    with open(path, encoding=encoding, errors="strict", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader, None)
            if not header or not any(h.strip() for h in header):
                yield _problem(path, None, "the file is empty", "Add a header row and one example per row.")
                return
            header = [h.strip() for h in header]
            if len(set(header)) != len(header) or not all(header):
                yield _problem(path, 1, f"the header row has empty or repeated column names: {header}",
                               "Give every column its own name in the first row.")
                return
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    yield _problem(path, reader.line_num, f"this row has {len(row)} fields but the header has "
                                                          f"{len(header)}",
                                   f"Quote fields that contain {delimiter!r}, or fix the row.")
                    continue
                yield Row(str(path), reader.line_num, dict(zip(header, row)))
        except UnicodeDecodeError:
            yield _problem(path, reader.line_num + 1, f"the text is not valid {encoding} here", UTF8_FIX)
        except csv.Error as error:
            yield _problem(path, reader.line_num, f"cannot read this row ({error})",
                           "Check the quotes on this row: every opening quote needs a closing one.")


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
