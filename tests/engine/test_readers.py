"""Reading every format a person may bring, and explaining every bad file with its place."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from macapp.engine.data import datasets
from macapp.engine.data.formats import Mapping
from macapp.engine.errors import DataError
from macapp.engine.models import loading
from tests.bad_inputs import BAD_INPUTS, CHAT, MISSING_COLUMN
from tests.helpers import write_jsonl

ROWS = [{"sql_prompt": f"count rows {i}", "sql": f"SELECT COUNT(*) FROM t{i};", "notes": "x"} for i in range(12)]
SQL = Mapping(prompt="sql_prompt", completion="sql")


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_each_bad_input_is_named_with_its_place(case, tmp_path):
    name, data, place, message = BAD_INPUTS[case]
    path = tmp_path / name
    path.write_bytes(data)
    report = datasets.inspect([path])
    assert report.must_fix
    assert any(p.place() == f"{path}{place}" and message in p.message for p in report.problems), report.problems
    assert case == "empty" or not any("empty" in p.message for p in report.problems)  # a file with bytes is not


def test_files_a_data_folder_does_not_read_are_named(tmp_path):
    (tmp_path / "rows.jsonl").write_text(json.dumps(CHAT) + "\n")
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    report = datasets.inspect([tmp_path])
    assert report.count == 1 and not report.must_fix
    (left,) = [p for p in report.problems if "left out" in p.message]
    assert left.place() == str(tmp_path / "notes.docx") and left.severity == "warning" and "Excel" in left.message


def test_missing_mapped_column(tmp_path):
    name, data, place, message, _ = MISSING_COLUMN
    path = tmp_path / name
    path.write_bytes(data)
    (problem,) = datasets.inspect([path], Mapping(prompt="question", completion="reply")).errors
    assert problem.place() == f"{path}{place}" and message in problem.message and "question, answer" in problem.message


@pytest.mark.parametrize("case", ["byte-order-mark", "crlf", "blank-line"])
def test_fixable_problems_are_fixed_by_prepare(case, tmp_path):
    name, data, _, _ = BAD_INPUTS[case]
    path = tmp_path / name
    path.write_bytes(data)
    manifest = datasets.prepare([path], tmp_path / "out", (1.0, 0.0, 0.0))
    assert manifest["fixed"]
    text = (tmp_path / "out" / "train.jsonl").read_bytes()
    assert b"\r" not in text and not text.startswith(b"\xef") and b"\n\n" not in text
    assert all(json.loads(line) == CHAT for line in text.splitlines())


def test_csv_with_semicolons_in_windows_1252(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("question;answer\nCafé?;Oui, café\n\"a;b\";c\n".encode("cp1252"))
    report = datasets.inspect([path], Mapping(prompt="question", completion="answer"))
    assert report.count == 2 and not report.errors
    assert any("Windows-1252" in p.message for p in report.problems)
    datasets.prepare([path], tmp_path / "out", (1.0, 0.0, 0.0), mapping=Mapping(prompt="question", completion="answer"))
    rows = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").open(encoding="utf-8")]
    assert {"prompt": "Café?", "completion": "Oui, café"} in rows and {"prompt": "a;b", "completion": "c"} in rows


def test_tsv_maps_columns_and_drops_the_rest(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("sql_prompt\tsql\tnotes\n" + "".join(f"{r['sql_prompt']}\t{r['sql']}\tx\n" for r in ROWS))
    manifest = datasets.prepare([path], tmp_path / "out", (1.0, 0.0, 0.0), mapping=SQL)
    assert manifest["format"] == "completions"
    first = json.loads((tmp_path / "out" / "train.jsonl").read_text().splitlines()[0])
    assert set(first) == {"prompt", "completion"}


def test_parquet_is_read(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    report = datasets.inspect([path], SQL)
    assert (report.count, report.format, report.errors) == (12, "completions", [])
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    (problem,) = datasets.inspect([tmp_path / "broken.parquet"]).errors
    assert "not a readable Parquet file" in problem.message


def test_save_to_disk_folders_are_read_and_their_split_kept(tmp_path):
    from datasets import Dataset, DatasetDict

    Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "one"))
    assert datasets.inspect([tmp_path / "one"], SQL).count == 12
    DatasetDict({"train": Dataset.from_list(ROWS[:9]), "validation": Dataset.from_list(ROWS[9:]),
                 "test": Dataset.from_list(ROWS[:2])}).save_to_disk(str(tmp_path / "dict"))
    manifest = datasets.prepare([tmp_path / "dict"], tmp_path / "out", mapping=SQL)
    assert {k: v["count"] for k, v in manifest["files"].items()} == {"train": 9, "valid": 3, "test": 0}
    assert manifest["left_out"] == 2  # its test rows repeat training rows: they would test memory


def test_templates_system_prompt_and_mistral_text(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    mapping = Mapping(prompt="Question: {sql_prompt}", completion="sql", system="You write SQL.")
    datasets.prepare([path], tmp_path / "chat", (1.0, 0.0, 0.0), mapping=mapping)
    first = json.loads((tmp_path / "chat" / "train.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert first["messages"][1]["content"].startswith("Question: count rows")
    mapping.style = "mistral-text"
    datasets.prepare([path], tmp_path / "text", (1.0, 0.0, 0.0), mapping=mapping)
    text = json.loads((tmp_path / "text" / "train.jsonl").read_text().splitlines()[0])["text"]
    assert text.startswith("<s>[INST] You write SQL.\n\nQuestion: count rows") and text.endswith(";</s>")
    assert " [/INST] SELECT COUNT(*)" in text


def test_duplicates_overlap_and_role_order(tmp_path):
    folder = tmp_path / "split"
    folder.mkdir()
    bad_order = {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                              {"role": "assistant", "content": "c"}]}
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (CHAT, CHAT, bad_order)))
    (folder / "valid.jsonl").write_text(json.dumps(CHAT) + "\n")
    report = datasets.inspect([folder])
    assert (report.duplicates, report.overlap) == (1, 1)
    messages = {(p.place(), p.message) for p in report.problems}
    assert (f"{folder / 'train.jsonl'}:2", f"repeats {folder / 'train.jsonl'}:1") in messages
    assert any("two user messages in a row" in m for _, m in messages)
    assert any("also in the train part" in m for _, m in messages)
    with pytest.raises(DataError):
        datasets.prepare([folder], tmp_path / "out")


def test_missing_chat_template_and_small_data(demo_model, tmp_path):


    _, tokenizer = loading.load(demo_model)
    tokenizer.chat_template = None
    path = tmp_path / "d.jsonl"
    write_jsonl(path, [{"messages": [{"role": "user", "content": f"Hi {i}"}, CHAT["messages"][1]]} for i in range(12)])
    report = datasets.inspect([path], tokenizer=tokenizer, batch_size=16)
    texts = [p.message for p in report.errors]
    assert any("no chat template" in t for t in texts) and "only 12 examples for a batch size of 16" in texts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=2000),
                      st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                                   lambda inner: st.lists(inner, max_size=4)
                                   | st.dictionaries(st.sampled_from(["messages", "prompt", "completion", "text",
                                                                      "role", "content", "x"]), inner, max_size=4),
                                   max_leaves=12).map(lambda v: json.dumps(v).encode())),
       suffix=st.sampled_from([".jsonl", ".json", ".csv", ".tsv", ".parquet"]))
def test_random_input_never_raises_anything_but_our_error(tmp_path, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    datasets.inspect([path])
    try:
        datasets.prepare([path], tmp_path / "out", (1.0, 0.0, 0.0))
    except DataError:
        pass
