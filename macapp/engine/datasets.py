"""Inspect and prepare training data: the report a person reads, and the split folder mlx-lm trains from.

Inspection streams, so a 1 GB file is checked without holding it; preparation refuses to write
anything while a record is wrong, and never touches the user's own files.
"""

import hashlib
import json
import random
import statistics
from array import array
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .errors import DataError, Problem, place
from .files import file_digest, write_json_atomic, write_text_atomic
from .formats import EXAMPLE, FORMATS_HELP, Mapping, detect_format, guess_mapping, to_example
from .readers import dataset_dict_splits, left_out, read, source_files

SPLITS = ("train", "valid", "test")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)  # train, validation, test: for data that comes without a split of its own
SPLIT_ALIASES = {"train": "train", "valid": "valid", "validation": "valid", "val": "valid", "dev": "valid",
                 "test": "test"}
MAX_PROBLEMS = 200  # listed in full; beyond this only counted, so a broken 1 GB file stays small
HISTOGRAM_BINS = 16


@dataclass
class Report:
    """What inspection found: format, counts, token lengths and every problem, located."""

    files: list[str] = field(default_factory=list)
    format: str | None = None
    count: int = 0
    splits: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    unlisted: int = 0
    duplicates: int = 0
    overlap: int = 0
    too_long: int = 0
    token_stats: dict = field(default_factory=dict)
    histogram: list = field(default_factory=list)
    guessed: dict | None = None  # the question and answer columns, when Tailor read them from the columns' names
    broken: int = 0  # records that could not be read at all (broken JSON, not text)
    skipped: int = 0  # of those, left out because the person chose to skip them

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def must_fix(self) -> bool:
        """True when mlx-lm could not train on the files as they are."""
        return any(p.severity in ("error", "fixable") for p in self.problems)

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS or problem.severity == "error" and not self.errors:
            self.problems.append(problem)
        else:
            self.unlisted += 1

    def to_dict(self) -> dict:
        return asdict(self)


def split_sources(source: Path) -> dict[str, list[Path]] | None:
    """Split name -> files, for a folder that already holds a split (train.jsonl..., or a DatasetDict)."""
    source = Path(source)
    if not source.is_dir():
        return None
    if (splits := dataset_dict_splits(source)) is not None:
        return {SPLIT_ALIASES[name]: source_files(folder) for name, folder in splits.items() if name in SPLIT_ALIASES}
    named = {}
    for path in source_files(source):
        split = SPLIT_ALIASES.get(path.stem.lower())
        if split:
            named.setdefault(split, []).append(path)
    return named if "train" in named else None


def _digest(example: dict) -> int:
    canonical = json.dumps(example, sort_keys=True, ensure_ascii=False).encode()
    return int.from_bytes(hashlib.blake2b(canonical, digest_size=8).digest(), "big")


class _Scan:
    """One pass over the sources: checks each record and fills a Report; keeps examples if asked."""

    def __init__(self, mapping: Mapping | None, keep: bool, tokenizer=None, skip_broken: bool = False):
        self.mapping, self.keep, self.tokenizer, self.skip_broken = mapping, keep, tokenizer, skip_broken
        self.guessing = mapping is None or mapping.format is None  # columns named by the person may be read
        self.report, self.kept, self.lengths = Report(), {}, array("I")
        self.first = None  # (format, place) of the first example, to name it when formats mix
        # digest -> where it first stood, packed in one int (split, file, line) so a 1 GB file stays small
        self.seen: dict[int, int] = {}
        self.split_names, self.units = [], []

    def source(self, source: Path) -> None:
        groups = split_sources(source) or {None: source_files(source)}
        if not any(groups.values()):
            self.report.add(Problem("error", "no data files in this folder (.jsonl, .json, .csv, .tsv, .parquet)",
                                    str(source), fix="Choose the folder that holds your data, or a file."))
        for path in left_out(source):
            self.report.add(Problem("warning", "left out: Tailor reads .jsonl, .json, .csv, .tsv and .parquet files",
                                    str(path), fix="Save it as one of those (a spreadsheet as CSV) to use it, or "
                                                   "move it out of the folder."))
        for split, paths in groups.items():
            self.split_names.append(split or "data")
            for path in paths:
                self.report.files.append(str(path))
                self.units.append("line")
                for row in read(path):
                    if row.problem:
                        self.problem(row.problem)
                    else:
                        self.row(row, split)

    def problem(self, problem: Problem) -> None:
        """A record that could not be read; left out with a warning when the person chose to skip those."""
        if problem.severity == "error" and problem.line:
            self.report.broken += 1
            if self.skip_broken:
                self.report.skipped += 1
                problem = replace(problem, severity="warning", message=f"{problem.message}: left out")
        self.report.add(problem)

    def guess(self, record) -> None:
        """Once, on the first record: its own format, or the question and answer columns as people name them."""
        self.guessing = False
        if isinstance(record, dict) and detect_format(record) is None:
            guessed = guess_mapping(list(record))
            if guessed:
                own = self.mapping or Mapping()
                self.mapping = replace(own, prompt=guessed.prompt, completion=guessed.completion)
                self.report.guessed = {"prompt": guessed.prompt, "completion": guessed.completion}

    def row(self, row, split: str | None) -> None:
        report, where = self.report, {"file": row.file, "line": row.line, "unit": row.unit}
        if self.guessing:
            self.guess(row.record)
        example, kind, problems = to_example(row.record, self.mapping, where)
        for problem in problems:
            report.add(problem)
        if example is None:
            return
        if self.first is None:
            self.first = (kind, place(**where))
            report.format = detect_format(example)
        elif kind != self.first[0]:
            report.add(Problem("error", f"is in {kind} format but {self.first[1]} is in {self.first[0]} format",
                               fix=f"Use one format in all files, e.g. {EXAMPLE[self.first[0]]}", **where))
            return
        self.check_repeat(_digest(example), row, where)
        report.count += 1
        report.splits[split or "all"] = report.splits.get(split or "all", 0) + 1
        if self.keep:
            self.kept.setdefault(split, []).append(example)
        if self.tokenizer is not None and ("text" in example or self.tokenizer.chat_template):
            self.lengths.append(token_length(example, self.tokenizer))

    def check_repeat(self, digest: int, row, where: dict) -> None:
        code = self.seen.get(digest)
        if code is None:
            self.units[-1] = row.unit
            self.seen[digest] = (len(self.split_names) - 1) << 56 | (len(self.report.files) - 1) << 32 | (row.line or 0)
            return
        file_index = code >> 32 & 0xFFFFFF
        earlier = place(self.report.files[file_index], code & 0xFFFFFFFF, self.units[file_index])
        earlier_split = self.split_names[code >> 56]
        if earlier_split == self.split_names[-1]:
            self.report.duplicates += 1
            self.report.add(Problem("warning", f"repeats {earlier} exactly",
                                    fix="Drop duplicates when you prepare the data (--drop-duplicates).", **where))
        else:
            self.report.overlap += 1
            self.report.add(Problem("warning", f"is also in the {earlier_split} split ({earlier})",
                                    fix="Remove it from one split, or the validation loss flatters.", **where))


def _scan(sources, mapping: Mapping | None, keep: bool, tokenizer=None, skip_broken: bool = False):
    """Read and check every record; returns (report, {split: examples} when keep, token lengths)."""
    scan = _Scan(mapping, keep, tokenizer, skip_broken)
    for source in [Path(s) for s in ([sources] if isinstance(sources, (str, Path)) else sources)]:
        scan.source(source)
    report = scan.report
    if report.files and report.count == 0 and not report.errors:
        report.add(Problem("error", "no examples found", report.files[0], fix=FORMATS_HELP))
    return report, scan.kept, scan.lengths


def token_length(example: dict, tokenizer) -> int:
    """Token count of an example as mlx-lm will see it (chat template applied)."""
    if "text" in example:
        return len(tokenizer.encode(example["text"]))
    messages = example.get("messages") or [
        {"role": "user", "content": example["prompt"]}, {"role": "assistant", "content": example["completion"]}]
    return len(tokenizer.apply_chat_template(messages, tools=example.get("tools"), return_dict=False))


def _length_report(report: Report, lengths: array, max_seq_length: int) -> None:
    ordered = sorted(lengths)
    report.token_stats = {"min": ordered[0], "median": int(statistics.median(ordered)), "max": ordered[-1],
                          "mean": round(statistics.fmean(ordered), 1)}
    low = ordered[0]
    width = max(1, -(-(ordered[-1] - low + 1) // HISTOGRAM_BINS))
    counts = [0] * HISTOGRAM_BINS
    for value in ordered:
        counts[min((value - low) // width, HISTOGRAM_BINS - 1)] += 1
    report.histogram = [[low + i * width, low + (i + 1) * width, n] for i, n in enumerate(counts)]
    report.too_long = sum(n > max_seq_length for n in ordered)
    if report.too_long:
        report.add(Problem("warning", f"{report.too_long} examples are longer than {max_seq_length} tokens "
                                      "and will be cut", report.files[0],
                           fix="Raise max_seq_length, or shorten or split those examples."))


def inspect(sources, mapping: Mapping | None = None, tokenizer=None, max_seq_length: int = 2048,
            batch_size: int | None = None, skip_broken: bool = False) -> Report:
    """Check every record of the sources (files or folders) without keeping them in memory."""
    report, _, lengths = _scan(sources, mapping, keep=False, tokenizer=tokenizer, skip_broken=skip_broken)
    if lengths:
        _length_report(report, lengths, max_seq_length)
    if tokenizer is not None and report.format in ("chat", "completions") and not tokenizer.chat_template:
        report.add(Problem("error", "the model has no chat template, which chat and prompt/completion data need",
                           report.files[0], fix="Choose a chat model, or map the data to text "
                                                "(--style mistral-text)."))
    if batch_size and 0 < report.splits.get("train", report.count) < batch_size:
        report.add(Problem("error", f"only {report.count} examples for a batch size of {batch_size}",
                           report.files[0], fix="Add examples or lower the batch size."))
    return report


def split_counts(total: int, ratios) -> tuple[int, int, int]:
    """How many examples go to train, valid and test; raises DataError when train would be empty."""
    valid = max(1, round(total * ratios[1])) if ratios[1] > 0 else 0
    test = max(1, round(total * ratios[2])) if ratios[2] > 0 else 0
    if total - valid - test < 1:
        raise DataError([Problem("error", f"only {total} examples: too few to split into train, valid and test",
                                 "(data)", fix="Add more examples, or set the valid and test ratios to 0.")])
    return total - valid - test, valid, test


def prepare(sources, out_dir, ratios=(0.8, 0.1, 0.1), seed: int = 0, drop_duplicates: bool = False,
            mapping: Mapping | None = None, skip_broken: bool = False) -> dict:
    """Write train/valid/test.jsonl and manifest.json into out_dir; a split the user brings is kept.

    Raises DataError, before writing anything, when any record is wrong (records that cannot be read at all
    are left out instead when `skip_broken`). Sources are never modified.
    """
    report, kept, _ = _scan(sources, mapping, keep=True, skip_broken=skip_broken)
    if report.errors:
        raise DataError(report.errors)
    if drop_duplicates:
        for split, examples in kept.items():
            seen = set()
            kept[split] = [e for e in examples if not ((d := _digest(e)) in seen or seen.add(d))]
    if None in kept:  # no split given: make one
        examples = kept.pop(None)
        random.Random(seed).shuffle(examples)
        n_train, n_valid, _ = split_counts(len(examples), ratios)
        kept = {"train": examples[:n_train], "valid": examples[n_train:n_train + n_valid],
                "test": examples[n_train + n_valid:]}
    out_dir = Path(out_dir)
    manifest = {"format": report.format, "seed": seed, "ratios": list(ratios), "drop_duplicates": drop_duplicates,
                "columns": report.guessed, "skipped": report.skipped,
                "sources": [str(Path(s).resolve()) for s in ([sources] if isinstance(sources, (str, Path))
                                                             else sources)],
                "fixed": [str(p) for p in report.problems if p.severity == "fixable"], "files": {}}
    for name in SPLITS:
        path, examples = out_dir / f"{name}.jsonl", kept.get(name, [])
        if not examples:  # mlx-lm fails on an empty split file; an absent one it skips
            path.unlink(missing_ok=True)
            manifest["files"][name] = {"count": 0, "sha256": None}
            continue
        text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples)
        write_text_atomic(path, text)
        manifest["files"][name] = {"count": len(examples), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    write_json_atomic(out_dir / "manifest.json", manifest)
    return manifest


def preview(sources, mapping: Mapping | None = None, limit: int = 20) -> dict:
    """The first records as they stand in the files (columns and values), to show in a table."""
    columns, rows = [], []
    for source in [Path(s) for s in ([sources] if isinstance(sources, (str, Path)) else sources)]:
        groups = split_sources(source) or {None: source_files(source)}
        for path in (p for paths in groups.values() for p in paths):
            for row in read(path):
                if len(rows) == limit:
                    return {"columns": columns, "rows": rows}
                if row.problem or not isinstance(row.record, dict):
                    continue
                columns += [str(key) for key in row.record if str(key) not in columns]
                example = to_example(row.record, mapping, {"file": row.file, "line": row.line})[0]
                rows.append({"place": place(row.file, row.line, row.unit), "record": row.record,
                             "example": example})
    return {"columns": columns, "rows": rows}


def load_split(folder, name: str) -> list[dict]:
    """Examples of one split of a prepared folder, checked; [] when the file is absent."""
    path = Path(folder) / f"{name}.jsonl"
    if not path.exists():
        return []
    report, kept, _ = _scan([path], None, keep=True)
    if report.errors:
        raise DataError(report.errors)
    return kept.get(None, [])


def fingerprint(folder) -> str:
    """Which examples a prepared folder trains and validates on: the hashes of its train and valid files."""
    found = [file_digest(Path(folder) / f"{name}.jsonl")["sha256"] if (Path(folder) / f"{name}.jsonl").exists()
             else "-" for name in ("train", "valid")]
    return ":".join(found)
