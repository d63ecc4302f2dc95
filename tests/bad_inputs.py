"""Every kind of bad data file the data step must explain, as (file name, bytes, place, message).

Shared by the engine and CLI tests; `place` is what follows the file name in the message.
"""

import json

CHAT = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
LINE = json.dumps(CHAT).encode()


def _lines(*rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


BAD_INPUTS = {
    "bad-json": ("d.jsonl", _lines(LINE, b'{"messages": [}'), ":2", "a value is missing, or a comma is one too many"),
    "blank-line": ("d.jsonl", _lines(LINE, b"", LINE), ":2", "blank line"),
    "pretty-object": ("d.jsonl", json.dumps(CHAT, indent=2).encode(), ":1", "one JSON object spread over"),
    "byte-order-mark": ("d.jsonl", b"\xef\xbb\xbf" + _lines(LINE), ":1", "byte-order mark"),
    "crlf": ("d.jsonl", LINE + b"\r\n" + LINE + b"\r\n", ":1", "CRLF"),
    "not-utf8": ("d.jsonl", _lines(LINE, b'{"text": "caf\xe9"}'), ":2", "is not UTF-8"),
    "empty": ("d.jsonl", b"", "", "the file is empty"),
    "unknown-keys": ("d.jsonl", _lines({"title": "q", "body": "a"}), ":1", "cannot tell which column holds"),
    "mixed-formats": ("d.jsonl", _lines(CHAT, {"text": "t"}), ":2", "text format"),
    "missing-role": ("d.jsonl", _lines({"messages": [{"content": "q"}, {"role": "assistant", "content": "a"}]}),
                     ":1", "has no role"),
    "missing-content": ("d.jsonl", _lines({"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}),
                        ":1", "has no content"),
    "csv-ragged": ("d.csv", b"prompt,completion\nq1,a1\nq2,a2,extra\n", ":3", "this row has 3 cells"),
    "huge-line": ("d.jsonl", b'{"text": "' + b"x" * (50 * 1024 * 1024) + b'"}\n', ":1", "MB long"),
    "binary": ("d.jsonl", bytes(range(256)) * 64, "", "not a text file"),
}

# Said, and repaired when the data is prepared: not a reason to stop.
FIXED_BY_TAILOR = {"blank-line", "byte-order-mark", "crlf"}

# A CSV whose mapped column does not exist: needs the mapping flags.
MISSING_COLUMN = ("d.csv", b"question,answer\nq1,a1\n", ":2", "no column 'reply'",
                  ["--prompt", "question", "--completion", "reply"])
