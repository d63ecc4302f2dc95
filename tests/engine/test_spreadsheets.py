"""Spreadsheets as people save them: Excel, old Excel, Numbers and OpenDocument workbooks, and the CSV exports of Google
Sheets and Excel, read into examples with every refusal naming its sheet and row."""

import codecs
import json

import pytest

from macapp.engine.data import datasets
from macapp.engine.data.formats import Mapping
from tests import workbooks
from tests.workbooks import EMAILS

HEADER = ("Customer email", "Our reply")


def examples(folder) -> list[dict]:
    return [json.loads(line) for name in datasets.SPLITS if (folder / f"{name}.jsonl").exists()
            for line in (folder / f"{name}.jsonl").read_text().splitlines()]


def test_an_excel_workbook_reads_its_first_sheet_with_data_and_offers_the_others(tmp_path):
    path = workbooks.xlsx(tmp_path / "support.xlsx", {
        "Read me": [("Replies we sent in May",)],
        "Emails": [("Support emails, May",), (), (*HEADER, None, None), *[(q, a, None, None) for q, a in EMAILS]],
        "Drafts": [("Question", "Answer"), ("Late parcel?", "Sorry!")],
    }, merges={"Emails": ["A1:D1"]})
    report = datasets.inspect(path)
    assert report.sheets == {"file": str(path), "names": ["Read me", "Emails", "Drafts"], "chosen": "Emails"}
    assert (report.count, report.errors, report.guessed) == (30, [], {"prompt": HEADER[0], "completion": HEADER[1]})
    other = datasets.inspect(path, Mapping(sheet="Drafts"))
    assert other.count == 1 and other.sheets["chosen"] == "Drafts"
    (missing,) = datasets.inspect(path, Mapping(sheet="June")).errors
    assert "no sheet named \u201cJune\u201d" in missing.message and "\u201cDrafts\u201d" in missing.message
    manifest = datasets.prepare(path, tmp_path / "out", mapping=Mapping(prompt=HEADER[0], completion=HEADER[1]))
    assert sum(f["count"] for f in manifest["files"].values()) == 30 and manifest["sheet"] == "Emails"
    assert {e["prompt"] for e in examples(tmp_path / "out")} == {q for q, _ in EMAILS}


def test_formulas_are_read_as_the_values_they_show(tmp_path):
    path = workbooks.xlsx(tmp_path / "f.xlsx", {"Sheet1": [HEADER, *EMAILS[:12]]})
    workbooks.with_cached_formula(path, "B2", 'CONCAT("Sorry", "!")', "Sorry!")
    report = datasets.inspect(path)
    assert report.count == 12 and not report.errors
    first = datasets.preview(path)["rows"][0]
    assert first["record"][HEADER[1]] == "Sorry!" and first["place"] == f"{path}, sheet \u201cSheet1\u201d, row 2"


def test_a_header_of_merged_groups_is_read_as_one_row_and_merged_cells_show_their_value(tmp_path):
    rows = [("Customer", None, "Support", None), ("Name", "Email", "Agent", "Reply"),
            *[(f"Ann {i}", q, "Sam" if i == 0 else None, a) for i, (q, a) in enumerate(EMAILS[:12])]]
    path = workbooks.xlsx(tmp_path / "m.xlsx", {"Log": rows}, merges={"Log": ["A1:B1", "C1:D1", "C3:C14"]})
    assert datasets.preview(path)["columns"] == ["Customer Name", "Customer Email", "Support Agent", "Support Reply"]
    records = [row["record"] for row in datasets.preview(path)["rows"]]
    assert {r["Support Agent"] for r in records} == {"Sam"}  # a merged cell down the column shows in every row
    assert datasets.preview(path)["rows"][0]["place"].endswith("row 3")


def test_a_problem_names_the_sheet_and_the_row(tmp_path):
    path = workbooks.xlsx(tmp_path / "r.xlsx", {"Emails": [("Question", "Answer", None), *EMAILS[:11],
                                                           ("Where is it?", None, "a note beside the table")]})
    report = datasets.inspect(path, Mapping(prompt="Question", completion="Answer"))
    (problem,) = report.problems
    assert problem.place() == f"{path}, sheet \u201cEmails\u201d, row 13" and "answer is empty" in problem.message
    error = datasets.inspect(path, Mapping(prompt="Question", completion="Reply")).errors[0]
    assert error.place() == f"{path}, sheet \u201cEmails\u201d, row 2" and "no column 'Reply'" in error.message


@pytest.mark.parametrize("kind", ["xls", "ods", "numbers"])
def test_old_excel_opendocument_and_numbers_are_read(kind, tmp_path):
    rows = [HEADER, *EMAILS[:12]]
    path = tmp_path / f"replies.{kind}"
    if kind == "numbers":
        workbooks.numbers(path, {"Notes": [("just a note",)], "Replies": rows})
    else:
        getattr(workbooks, kind)(path, rows)
    report = datasets.inspect(path)
    assert (report.count, report.errors, report.sheets["chosen"]) == (12, [], "Replies"), report.problems
    assert report.guessed == {"prompt": HEADER[0], "completion": HEADER[1]}
    assert datasets.preview(path)["rows"][0]["record"] == {HEADER[0]: EMAILS[0][0], HEADER[1]: EMAILS[0][1]}


def test_a_damaged_workbook_is_said_plainly(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    (problem,) = datasets.inspect(path).errors
    assert "cannot be read" in problem.message and "save it again" in problem.fix


@pytest.mark.parametrize("delimiter,encoding", [(",", "utf-8"), (";", "utf-8-sig"), ("\t", "utf-16"),
                                                (";", "cp1252"), (",", "mac_roman")])
def test_csv_exports_with_empty_columns_and_rows_stray_spaces_and_any_delimiter(delimiter, encoding, tmp_path):
    rows = [(" Question ", "Answer  "), *[(q.replace("arrived", "arrivé"), a) for q, a in EMAILS[:12]]]
    path = workbooks.sheets_csv(tmp_path / "export.csv", rows, delimiter, encoding)
    report = datasets.inspect(path)
    assert (report.count, report.errors) == (12, []), report.problems
    assert report.guessed == {"prompt": "Question", "completion": "Answer"}
    record = datasets.preview(path)["rows"][0]["record"]
    assert record == {"Question": EMAILS[0][0].replace("arrived", "arrivé"), "Answer": EMAILS[0][1]}
    said_encoding = [p for p in report.problems if "not UTF-8" in p.message]
    assert [p.message.split(" as ")[1] for p in said_encoding] == {
        "cp1252": ["Windows-1252 (Western European)"], "mac_roman": ["Mac Roman (Western European)"]}.get(encoding, [])


def test_a_column_named_twice_or_not_at_all_keeps_its_data(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("Question,Answer,Answer,\n" + "".join(f"q{i},a{i},b{i},note {i}\n" for i in range(12)))
    record = datasets.preview(path)["rows"][0]["record"]
    assert record == {"Question": "q0", "Answer": "a0", "Answer (column C)": "b0", "Column D": "note 0"}


def test_the_byte_order_mark_is_never_part_of_a_column_name(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"prompt;completion\n" + b"".join(b"q%d;a%d\n" % (i, i) for i in range(12)))
    report = datasets.inspect(path)
    assert report.format == "completions" and report.count == 12 and not report.problems


def test_a_quote_left_open_that_swallows_rows_is_said(tmp_path):
    """An opening quote without its closing one takes the rows after it into one cell; a cell that truly holds line
    breaks (the last answer) is not flagged."""
    path = tmp_path / "quotes.csv"
    path.write_text("Question,Answer\n" + "".join(f"{q},{a}\n" for q, a in EMAILS[:12])
                    + '"Where is my parcel? - Ann,It left today.\nCan I pay later?,Yes.\n'
                    + 'What about refunds?,"Refunds take, at most,\nfive days."\n')
    said = [(p.line, p.severity) for p in datasets.inspect(path).problems if "runs on over" in p.message]
    assert said == [(14, "warning")]
