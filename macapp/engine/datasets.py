"""Read, validate and split training data into the folder mlx-lm trains from.

Every record is checked before training, and each problem names the file, line and field and
says how to fix it; mlx-lm itself answers bad data with bare tracebacks.
"""

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import InputError
from .files import write_json_atomic, write_text_atomic

FORMAT_KEYS = {"chat": ("messages",), "completions": ("prompt", "completion"), "text": ("text",)}
OPTIONAL_KEYS = {"chat": ("tools",), "completions": ("tools",), "text": ()}
ROLES = ("system", "user", "assistant", "tool")
SPLITS = ("train", "valid", "test")
EXAMPLE = {
    "chat": '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}',
    "completions": '{"prompt": "Hi", "completion": "Hello!"}',
    "text": '{"text": "Some text to learn."}',
}
FORMATS_HELP = (
    'Use one of the three formats: {"messages": [...]} for chats, {"prompt": ..., "completion": ...} '
    'or {"text": ...}.'
)


@dataclass
class Problem:
    """One thing wrong with the data, located precisely enough to fix it."""

    severity: str  # "error" stops preparation; "warning" does not
    message: str
    file: str
    line: int | None = None
    field: str | None = None
    fix: str = ""

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        what = f"{self.field}: {self.message}" if self.field else self.message
        return f"{where}: {what}" + (f" Fix: {self.fix}" if self.fix else "")


@dataclass
class Report:
    """What `inspect` found: format, count, token lengths and every problem."""

    files: list[str]
    format: str | None = None
    count: int = 0
    problems: list[Problem] = field(default_factory=list)
    token_lengths: list[int] = field(default_factory=list)
    too_long: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def to_dict(self) -> dict:
        return asdict(self)


class DataError(InputError):
    """Bad input data; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n".join(str(p) for p in problems[:20])
        more = f"\n... and {len(problems) - 20} more problems" if len(problems) > 20 else ""
        super().__init__(shown + more)


def detect_format(record: dict) -> str | None:
    for name, keys in FORMAT_KEYS.items():
        if all(key in record for key in keys):
            return name
    return None


def _check_chat(record: dict, where: dict) -> list[Problem]:
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        return [Problem("error", "must be a non-empty list of messages", field="messages",
                        fix=f"Write it like {EXAMPLE['chat']}", **where)]
    problems = []
    for index, message in enumerate(messages):
        name = f"messages[{index}]"
        if not isinstance(message, dict):
            problems.append(Problem("error", "must be an object with role and content", field=name,
                                    fix='Write {"role": "user", "content": "..."}', **where))
            continue
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            problems.append(Problem("error", f"unknown role {role!r}", field=f"{name}.role",
                                    fix=f"Use one of: {', '.join(ROLES)}.", **where))
        if not isinstance(content, str) and not (role == "assistant" and message.get("tool_calls")):
            problems.append(Problem("error", "content must be text", field=f"{name}.content",
                                    fix="Put the message text in a string.", **where))
    if problems:
        return problems
    roles = [m["role"] for m in messages]
    if "user" not in roles:
        problems.append(Problem("error", "has no user message", field="messages",
                                 fix="Add a message with role 'user' before the answer.", **where))
    if roles[-1] != "assistant":
        problems.append(Problem("error", f"the last message is from {roles[-1]!r}, not the assistant",
                                field="messages", fix="End each chat with the answer to learn.", **where))
    elif not (messages[-1].get("content") or "").strip() and not messages[-1].get("tool_calls"):
        problems.append(Problem("warning", "the answer is empty", field=f"messages[{len(messages) - 1}].content",
                                fix="Write the answer, or remove this example.", **where))
    return problems


def _check_completions(record: dict, where: dict) -> list[Problem]:
    problems = []
    for key in ("prompt", "completion"):
        if not isinstance(record[key], str):
            problems.append(Problem("error", "must be text", field=key, fix="Put the text in a string.", **where))
    if not problems and not record["completion"].strip():
        problems.append(Problem("warning", "the answer is empty", field="completion",
                                fix="Write the answer, or remove this example.", **where))
    return problems


def _check_text(record: dict, where: dict) -> list[Problem]:
    if not isinstance(record["text"], str):
        return [Problem("error", "must be text", field="text", fix="Put the text in a string.", **where)]
    if not record["text"].strip():
        return [Problem("warning", "is empty", field="text", fix="Remove this example.", **where)]
    return []


CHECKS = {"chat": _check_chat, "completions": _check_completions, "text": _check_text}


def _starts_with_bracket(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read(4096).lstrip().startswith("[")


def read_records(path: Path):
    """Yield (line, record or None, problem or None) for a JSONL file (streamed) or a JSON array file."""
    path = Path(path)
    if not path.is_file():
        yield None, None, Problem("error", "file not found", str(path), fix="Check the path.")
        return
    if path.suffix == ".json" and _starts_with_bracket(path):
        try:
            items = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except json.JSONDecodeError as error:
            yield error.lineno, None, Problem("error", f"not valid JSON ({error.msg}, column {error.colno})",
                                              str(path), error.lineno, fix="Repair the JSON array.")
            return
        for index, item in enumerate(items, start=1):
            yield index, item, None
        return
    seen_any = False
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            seen_any = True
            try:
                yield number, json.loads(line), None
            except json.JSONDecodeError as error:
                yield number, None, Problem("error", f"not valid JSON ({error.msg}, column {error.colno})",
                                            str(path), number, fix="Write exactly one JSON object on each line.")
    if not seen_any:
        yield None, None, Problem("error", "the file is empty", str(path),
                                  fix=f"Add one example per line, e.g. {EXAMPLE['chat']}")


def _source_files(source: Path) -> list[Path]:
    source = Path(source)
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.suffix in (".jsonl", ".json"))
    return [source]


def inspect(paths, tokenizer=None, max_seq_length: int = 2048) -> tuple[Report, list[dict]]:
    """Check every record of the files (or folders of them); returns the report and the valid records."""
    sources, paths = [Path(p) for p in paths], [f for p in paths for f in _source_files(p)]
    report, records = Report(files=[str(p) for p in paths]), []
    for source in sources:
        if source.is_dir() and not _source_files(source):
            report.problems.append(Problem("error", "no .jsonl or .json files in this folder", str(source),
                                           fix="Choose the folder that holds your data files, or a file."))
    first = None  # (format, file, line) of the first record, to name it when formats mix
    for path in paths:
        for line, record, problem in read_records(path):
            where = {"file": str(path), "line": line}
            if problem:
                report.problems.append(problem)
                continue
            if not isinstance(record, dict):
                report.problems.append(Problem("error", "is not a JSON object", **where, fix=FORMATS_HELP))
                continue
            kind = detect_format(record)
            if kind is None:
                keys = ", ".join(sorted(record)) or "none"
                report.problems.append(Problem("error", f"has no known fields (it has: {keys})", **where,
                                               fix=FORMATS_HELP))
                continue
            if first is None:
                first = (kind, path, line)
                report.format = kind
            elif kind != first[0]:
                report.problems.append(Problem(
                    "error", f"is in {kind} format but {first[1]}:{first[2]} is in {first[0]} format", **where,
                    fix=f"Use one format in all files, e.g. {EXAMPLE[first[0]]}"))
                continue
            found = CHECKS[kind](record, where)
            report.problems.extend(found)
            if not any(p.severity == "error" for p in found):
                keep = FORMAT_KEYS[kind] + OPTIONAL_KEYS[kind]
                records.append({key: record[key] for key in keep if key in record})
    report.count = len(records)
    if paths and not records and not report.errors:
        report.problems.append(Problem("error", "no examples found", str(paths[0]), fix=FORMATS_HELP))
    if tokenizer is not None and records:
        report.token_lengths = token_lengths(records, report.format, tokenizer)
        report.too_long = sum(n > max_seq_length for n in report.token_lengths)
        if report.too_long:
            report.problems.append(Problem(
                "warning", f"{report.too_long} examples are longer than {max_seq_length} tokens and will be cut",
                report.files[0], fix="Raise max_seq_length or shorten those examples."))
    return report, records


def token_lengths(records: list[dict], kind: str, tokenizer) -> list[int]:
    """Token count of each record as mlx-lm will see it (chat template applied)."""
    def count(record):
        if kind == "text":
            return len(tokenizer.encode(record["text"]))
        messages = record.get("messages") or [
            {"role": "user", "content": record["prompt"]}, {"role": "assistant", "content": record["completion"]}]
        return len(tokenizer.apply_chat_template(messages, tools=record.get("tools"), return_dict=False))
    return [count(r) for r in records]


def _split_counts(total: int, ratios: tuple[float, float, float]) -> tuple[int, int, int]:
    valid = max(1, round(total * ratios[1])) if ratios[1] > 0 else 0
    test = max(1, round(total * ratios[2])) if ratios[2] > 0 else 0
    train = total - valid - test
    if train < 1:
        raise DataError([Problem("error", f"only {total} examples: too few to split into train, valid and test",
                                 "(data)", fix="Add more examples, or set the valid and test ratios to 0.")])
    return train, valid, test


def existing_split(source: Path) -> dict[str, Path] | None:
    """The train/valid/test files of a folder that already holds a split, else None."""
    source = Path(source)
    if source.is_dir() and (source / "train.jsonl").exists():
        return {name: source / f"{name}.jsonl" for name in SPLITS if (source / f"{name}.jsonl").exists()}
    return None


def prepare(sources, out_dir, ratios=(0.8, 0.1, 0.1), seed: int = 0, drop_duplicates: bool = False) -> dict:
    """Validate the sources and write train/valid/test.jsonl and manifest.json into out_dir.

    Raises DataError, before writing anything, when any record is wrong. Sources are never modified.
    """
    sources = [Path(s) for s in ([sources] if isinstance(sources, (str, Path)) else sources)]
    if len(sources) == 1 and (split := existing_split(sources[0])):
        parts, kinds, problems = {}, set(), []
        for name, path in split.items():
            report, records = inspect([path])
            problems += report.errors
            parts[name] = records
            kinds.add(report.format)
        if len(kinds - {None}) > 1:
            problems.append(Problem("error", f"the split files mix formats: {', '.join(sorted(kinds - {None}))}",
                                    str(sources[0]), fix="Use one format in train, valid and test."))
        kind = next(iter(kinds - {None}), None)
    else:
        report, records = inspect(sources)
        problems, kind = report.errors, report.format
        if not problems:
            if drop_duplicates:
                seen = set()
                records = [r for r in records if not (k := json.dumps(r, sort_keys=True)) in seen and not seen.add(k)]
            random.Random(seed).shuffle(records)
            n_train, n_valid, _ = _split_counts(len(records), tuple(ratios))
            parts = {"train": records[:n_train], "valid": records[n_train:n_train + n_valid],
                     "test": records[n_train + n_valid:]}
    if problems:
        raise DataError(problems)
    out_dir = Path(out_dir)
    manifest = {"format": kind, "seed": seed, "ratios": list(ratios),
                "sources": [str(s.resolve()) for s in sources], "files": {}}
    for name in SPLITS:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in parts.get(name, []))
        write_text_atomic(out_dir / f"{name}.jsonl", text)
        manifest["files"][name] = {"count": len(parts.get(name, [])),
                                   "sha256": hashlib.sha256(text.encode()).hexdigest()}
    write_json_atomic(out_dir / "manifest.json", manifest)
    return manifest


def load_split(folder, name: str) -> list[dict]:
    """Records of one split of a prepared folder, validated; [] when the file is absent."""
    path = Path(folder) / f"{name}.jsonl"
    if not path.exists():
        return []
    report, records = inspect([path])
    if report.errors:
        raise DataError(report.errors)
    return records
