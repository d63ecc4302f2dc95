"""A person's file that is too large to read whole is refused by its size, at once and in plain words: a JSON array
and a text document or web page; the file is never read."""

import time

from macapp.engine.data import documents, readers

SECONDS = 5  # a stat and a refusal; reading the files here whole would take minutes and gigabytes


def sparse(path, start: bytes, size: int):
    """A file of `size` bytes that starts with `start` and costs no disk: the rest is a hole."""
    with open(path, "wb") as handle:
        handle.write(start)
        handle.truncate(size)
    return path


def test_a_json_array_larger_than_is_read_whole_asks_for_jsonl(tmp_path):
    path = sparse(tmp_path / "big.json", b"[" + b" " * readers.SNIFF_BYTES, readers.MOST_WHOLE_BYTES + 2**20)
    began = time.monotonic()
    (row,) = list(readers.read(path))
    assert time.monotonic() - began < SECONDS
    assert str(row.problem) == (f"{path}: a JSON array of 257 MB is more than Tailor reads whole (256 MB) Fix: "
                                "Save it as JSONL, one example a line: that is read a line at a time, at any size.")


def test_a_document_larger_than_is_read_whole_is_left_out_with_its_size(tmp_path):
    small = tmp_path / "notes.txt"
    small.write_text("A short note about returns.\n")
    for name in ("log.txt", "page.html", "book.md"):
        sparse(tmp_path / name, b"Words. " * 10, documents.MOST_TEXT_BYTES + 2**20)
    began = time.monotonic()
    found, problems = documents.read_passages([str(tmp_path)])
    assert time.monotonic() - began < SECONDS
    assert [p.text for p in found] == ["A short note about returns."]
    assert sorted(documents.left_out_words(p) for p in problems) == [
        f"Left out {name}: it is 33 MB, more than Tailor reads as one document (32 MB, about 20,000 passages). "
        "Choose the parts you want questions on, saved as smaller files."
        for name in ("book.md", "log.txt", "page.html")]
