"""Inspect and prepare training data: the report a person reads, and the split folder mlx-lm trains from.

Inspection streams, so a 1 GB file is checked without holding it; preparation refuses to write
anything while a record is wrong, and never touches the user's own files.
"""

import hashlib
import json
import random
import re
import statistics
from collections import Counter
from array import array
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .. import words
from ..errors import SHEET, DataError, Problem, place
from ..files import file_digest, write_json_atomic, write_text_atomic
from . import pairs, workbooks
from .formats import EXAMPLE, FORMATS_HELP, Mapping, detect_format, guess_mapping, to_example
from .readers import KINDS, dataset_dict_splits, left_out, read, source_files

SPLITS = ("train", "valid", "test")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)  # train, validation, test: for data that comes without a split of its own
SPLIT_ALIASES = {"train": "train", "valid": "valid", "validation": "valid", "val": "valid", "dev": "valid",
                 "test": "test"}
MAX_PROBLEMS = 200  # listed in full; beyond this only counted, so a broken 1 GB file stays small
HISTOGRAM_BINS = 16
MIN_TO_SPLIT = 10  # fewer different examples than this are too few to keep some apart for checking
REPEATS = ("drop", "train")  # a repeated example: kept once, or every copy kept, in training only
NO_SPLIT = (1.0, 0.0, 0.0)


@dataclass
class Report:
    """What inspection found: format, counts, token lengths and every problem, located."""

    files: list[str] = field(default_factory=list)
    format: str | None = None
    count: int = 0
    splits: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    unlisted: int = 0
    duplicates: int = 0  # examples that repeat an earlier one of the same part, exactly or nearly
    near: int = 0  # of those, the ones that differ in case, spaces or punctuation only
    repeat_groups: int = 0  # examples that have repeats
    # examples (each once) whose question another, differently answered example asks: kept in training, so that no
    # question is both trained on and held out; and of those, the ones that have repeats
    asked_again: int = 0
    asked_again_repeated: int = 0
    questions_asked_again: int = 0  # the questions those examples ask
    overlap: int = 0  # examples of a part (valid, test) of the person's own split that repeat an earlier part
    repeats_in: dict = field(default_factory=dict)  # part ("all" when unsplit) -> its examples that repeat another
    too_long: int = 0
    token_stats: dict = field(default_factory=dict)
    histogram: list = field(default_factory=list)
    guessed: dict | None = None  # the question and answer columns, when Tailor read them from the columns' names
    broken: int = 0  # records that could not be read at all (broken JSON, not text)
    skipped: int = 0  # of those, left out because the person chose to skip them
    sheets: dict | None = None  # of a workbook: {"file", "names" of its sheets, "chosen": the one read}

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
    """Split name -> files, for a folder that already holds a split (train.jsonl..., or a DatasetDict), in the order
    train, valid, test."""
    source = Path(source)
    if not source.is_dir():
        return None
    named = {}
    if (splits := dataset_dict_splits(source)) is not None:
        named = {SPLIT_ALIASES[name]: source_files(folder) for name, folder in splits.items() if name in SPLIT_ALIASES}
        return {name: named[name] for name in SPLITS if name in named}
    for path in source_files(source):
        split = SPLIT_ALIASES.get(path.stem.lower())
        if split:
            named.setdefault(split, []).append(path)
    return {name: named[name] for name in SPLITS if name in named} if "train" in named else None


def _digest(example: dict) -> int:
    canonical = json.dumps(example, sort_keys=True, ensure_ascii=False).encode()
    return int.from_bytes(hashlib.blake2b(canonical, digest_size=8).digest(), "big")


def _texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key in sorted(value):
            yield from _texts(value[key])
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def same_text_key(example: dict) -> int:
    """Which examples are copies of each other: the same text once case, spaces and punctuation are set aside."""
    joined = "\x1f".join(re.sub(r"[\W_]+", " ", text.casefold()).strip() for text in _texts(example))
    return int.from_bytes(hashlib.blake2b(joined.encode(), digest_size=8).digest(), "big")


def question_key(text: str) -> int:
    """The same key for the same question, whatever its case, spaces and punctuation."""
    return same_text_key({"prompt": text})


def asked_key(example: dict) -> int:
    """The question an example answers, as question_key gives it: its last user message, or its prompt; a plain text
    is a question of its own."""
    if "chosen" in example:
        return question_key(pairs.asked(example) or "")
    messages = example.get("messages")
    if isinstance(messages, list):
        asked = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        if asked and isinstance(asked[-1], str):
            return question_key(asked[-1])
    if isinstance(example.get("prompt"), str):
        return question_key(example["prompt"])
    return same_text_key(example)


class _Scan:
    """One pass over the sources: checks each record and fills a Report; keeps examples if asked."""

    def __init__(self, mapping: Mapping | None, keep: bool, tokenizer=None, skip_broken: bool = False):
        self.mapping, self.keep, self.tokenizer, self.skip_broken = mapping, keep, tokenizer, skip_broken
        self.guessing = mapping is None or mapping.format is None  # columns named by the person may be read
        self.report, self.kept, self.lengths = Report(), {}, array("I")
        self.first = None  # (format, place) of the first example, to name it when formats mix
        # digest -> where it first stood, packed in one int (split, file, line) so a 1 GB file stays small
        self.seen: dict[int, int] = {}
        self.exact: set[int] = set()  # digests of the examples as written, to tell exact repeats from near ones
        self.repeated: set[int] = set()  # keys of examples seen again
        self.asked: dict[int, int] = {}  # key of each different example -> the key of its question
        self.first_asked: dict[int, int] = {}  # key of a question -> where it was first asked, packed as in `seen`
        self.unknown_said = False  # the columns could not be told apart, as said for the first row
        self.split_names, self.units = [], []

    def source(self, source: Path) -> None:
        groups = split_sources(source) or {None: source_files(source)}
        if not any(groups.values()):
            self.report.add(Problem("error", f"no data files in this folder ({KINDS})",
                                    str(source), fix="Choose the folder that holds your data, or a file."))
        for path in left_out(source):
            self.report.add(Problem("warning", f"left out: Tailor reads {KINDS} files",
                                    str(path), fix="Save it as one of those to use it, or move it out of the folder."))
        sheet = self.mapping.sheet if self.mapping else None
        for split, paths in groups.items():
            self.split_names.append(split or "data")
            for path in paths:
                self.report.files.append(str(path))
                self.units.append("line")
                if workbooks.is_workbook(path) and self.report.sheets is None:
                    self.report.sheets = {"file": str(path), "names": _sheet_names(path), "chosen": sheet}
                for row in read(path, sheet):
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
        # a table with chosen and rejected columns still names its question column otherwise ("Question")
        pair_without_prompt = isinstance(record, dict) and isinstance(record.get("chosen"), str) \
            and "prompt" not in record
        if isinstance(record, dict) and (detect_format(record) is None or pair_without_prompt):
            guessed = guess_mapping(list(record))
            if guessed:
                columns = {key: getattr(guessed, key) for key in ("prompt", "completion", "chosen", "rejected")
                           if getattr(guessed, key)}
                self.mapping = replace(self.mapping or Mapping(), **columns)
                self.report.guessed = {"completion": None, **columns}

    def row(self, row, split: str | None) -> None:
        report, where = self.report, {"file": row.file, "line": row.line, "unit": row.unit}
        if self.guessing:
            self.guess(row.record)
        example, kind, problems = to_example(row.record, self.mapping, where)
        unknown = example is None and kind is None and isinstance(row.record, dict)
        if unknown and self.unknown_said:
            return  # "cannot tell which column holds what" is the same for every row: said once, for the first
        self.unknown_said = self.unknown_said or unknown
        for problem in problems:
            report.add(problem)
        if example is None:
            return
        if self.first is None:
            self.first = (kind, place(**where))
            report.format = detect_format(example)
        elif kind != self.first[0]:
            report.add(_mixed(kind, self.first, where))
            return
        if row.unit.startswith(SHEET) and report.sheets and report.sheets["chosen"] is None:
            report.sheets["chosen"] = row.unit[len(SHEET):]
        key = same_text_key(example)
        if key not in self.seen:
            self.check_asked_again(key, asked_key(example), row, where)
        self.check_repeat(key, _digest(example), row, where)
        report.count += 1
        report.splits[split or "all"] = report.splits.get(split or "all", 0) + 1
        if self.keep:
            self.kept.setdefault(split, []).append(example)
        if self.tokenizer is not None and ("text" in example or self.tokenizer.chat_template):
            self.lengths.append(token_length(example, self.tokenizer))

    def _code(self, row) -> int:
        """Where a row stands (its part, file and line) packed in one int."""
        return (len(self.split_names) - 1) << 56 | (len(self.report.files) - 1) << 32 | (row.line or 0)

    def _place(self, code: int) -> str:
        file_index = code >> 32 & 0xFFFFFF
        return place(self.report.files[file_index], code & 0xFFFFFFFF, self.units[file_index])

    def check_asked_again(self, key: int, question: int, row, where: dict) -> None:
        """Note a different example that asks a question an earlier one asks (data to be split here): both are
        trained on, neither is held out."""
        self.asked[key] = question
        code = self.first_asked.setdefault(question, self._code(row))
        if code != self._code(row) and self.split_names[-1] == "data":
            self.report.add(Problem("warning", f"asks the same question as {self._place(code)}, answered "
                                               "differently: both are trained on, neither is kept for testing",
                                    fix="Nothing to do. If one of the two answers is wrong, remove it.", **where))

    def count_asked_again(self) -> None:
        """The different examples whose question another one asks too (with another answer)."""
        questions = Counter(self.asked.values())
        shared = [key for key, question in self.asked.items() if questions[question] > 1]
        self.report.asked_again = len(shared)
        self.report.questions_asked_again = sum(count > 1 for count in questions.values())
        self.report.asked_again_repeated = sum(key in self.repeated for key in shared)

    def check_repeat(self, key: int, digest: int, row, where: dict) -> None:
        """Note an example that repeats an earlier one (exactly, or but for case, spaces and punctuation): in the same
        part it is a repeat, left out of the split; in a later part of the person's own split it is shared, left out of
        that part."""
        exact = digest in self.exact
        self.exact.add(digest)
        code = self.seen.get(key)
        if code is None:
            self.units[-1] = row.unit
            self.seen[key] = self._code(row)
            return
        earlier = self._place(code)
        earlier_split = self.split_names[code >> 56]
        how = "" if exact else " (only case, spaces or punctuation differ)"
        part = self.split_names[-1] if self.split_names[-1] != "data" else "all"
        self.report.repeats_in[part] = self.report.repeats_in.get(part, 0) + 1
        if earlier_split == self.split_names[-1]:
            self.report.duplicates += 1
            self.report.near += not exact
            if key not in self.repeated:
                self.repeated.add(key)
                self.report.repeat_groups += 1
            self.report.add(Problem("warning", f"repeats {earlier}{how}",
                                    fix="Nothing to do: a repeat is never both trained on and held out. It is left "
                                        "out, or, if you choose, every copy is kept in training only.", **where))
        else:
            self.report.overlap += 1
            self.report.add(Problem("warning", f"is also in the {earlier_split} part ({earlier}){how}: left out of "
                                               f"the {self.split_names[-1]} part",
                                    fix="Nothing to do: Tailor checks the model only on examples it did not train "
                                        "on. Remove the copy from one of your files to keep it.", **where))


def _mixed(kind: str, first: tuple, where: dict) -> Problem:
    """The problem of a record in another format than the first one's (at `first`: its format and place)."""
    if "preference" not in (kind, first[0]):
        return Problem("error", f"is in {kind} format but {first[1]} is in {first[0]} format",
                       fix=f"Use one format in all files, e.g. {EXAMPLE[first[0]]}", **where)
    this, that = ("a pair of answers", "an example with one answer") if kind == "preference" else \
        ("an example with one answer", "a pair of answers (better and worse)")
    return Problem("error", f"is {this}, but {first[1]} is {that}: one set of data holds one kind or the other",
                   fix="Put the pairs of better and worse answers in a file of their own: they teach by choosing "
                       "(DPO or ORPO), examples teach by showing.", **where)


def _sheet_names(path) -> list[str]:
    try:
        return workbooks.sheet_names(path)
    except workbooks.WorkbookError:
        return []  # said once, as the file's own problem, when its rows are read


def _scan(sources, mapping: Mapping | None, keep: bool, tokenizer=None, skip_broken: bool = False):
    """Read and check every record; returns (report, {split: examples} when keep, token lengths)."""
    scan = _Scan(mapping, keep, tokenizer, skip_broken)
    for source in [Path(s) for s in ([sources] if isinstance(sources, (str, Path)) else sources)]:
        scan.source(source)
    scan.count_asked_again()
    report = scan.report
    if report.files and report.count == 0 and not report.errors:
        report.add(Problem("error", "no examples found", report.files[0], fix=FORMATS_HELP))
    return report, scan.kept, scan.lengths


def token_length(example: dict, tokenizer) -> int:
    """Token count of an example as mlx-lm will see it (chat template applied)."""
    if "text" in example:
        return len(tokenizer.encode(example["text"]))
    if "chosen" in example:  # a pair is as long as its longer side
        return max(len(tokenizer.apply_chat_template(pairs.answered(example, side), return_dict=False))
                   for side in pairs.SIDES)
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
                           fix="Allow longer examples (Longest example, in the Train step's advanced settings; "
                               "max_seq_length in a config), or shorten or split those examples."))


def inspect(sources, mapping: Mapping | None = None, tokenizer=None, max_seq_length: int = 2048,
            batch_size: int | None = None, skip_broken: bool = False) -> Report:
    """Check every record of the sources (files or folders) without keeping them in memory."""
    report, _, lengths = _scan(sources, mapping, keep=False, tokenizer=tokenizer, skip_broken=skip_broken)
    if lengths:
        _length_report(report, lengths, max_seq_length)
    if tokenizer is not None and report.format in ("chat", "completions", "preference") and not tokenizer.chat_template:
        report.add(Problem("error", "the model has no chat template, which chat and prompt/completion data need",
                           report.files[0], fix="Choose a chat model, or map the data to text "
                                                "(--style mistral-text)."))
    if report.count and "all" in report.splits and not can_split(report.to_dict()):
        report.add(Problem("warning", f"only {words.count(report.count - report.duplicates, 'different example')}: "
                                      "too few to keep some apart for checking", report.files[0],
                           fix=f"Add examples ({MIN_TO_SPLIT} or more), or train on all of them with none kept apart "
                               "(on the Data step; from a terminal, --split 1,0,0)."))
    elif batch_size and 0 < report.splits.get("train", report.count) < batch_size:
        report.add(Problem("error", f"only {words.count(report.count, 'example')} for a batch size of {batch_size}",
                           report.files[0], fix="Add examples or lower the batch size."))
    return report


def held_out_able(distinct: int, repeat_groups: int = 0, asked_again: int = 0, asked_again_repeated: int = 0,
                  repeats: str = "drop") -> int:
    """How many of `distinct` different examples may be held out: those whose question no other example asks and,
    when every copy of a repeat is kept in training ("train"), that have no copies."""
    if repeats == "drop":
        return distinct - asked_again
    return distinct - repeat_groups - asked_again + asked_again_repeated


def split_counts(count: int, ratios, duplicates: int = 0, repeat_groups: int = 0, repeats: str = "drop",
                 asked_again: int = 0, asked_again_repeated: int = 0) -> tuple[int, int, int]:
    """How many examples go to train, valid and test, of `count` examples of which `duplicates` repeat others (those
    of `repeat_groups` examples): the different ones are shared out by `ratios`; a repeat is left out ("drop"), or
    kept with every copy in training only ("train"). Only an example whose question no other asks is held out
    (`asked_again` are not, `asked_again_repeated` of them with repeats). Raises DataError when there are too few to
    split."""
    distinct = count - duplicates
    if (ratios[1] > 0 or ratios[2] > 0) and distinct < MIN_TO_SPLIT:
        raise DataError([Problem("error", f"only {words.count(distinct, 'different example')}: too few to keep "
                                          "some apart for checking", "(data)",
                                 fix=f"Add examples ({MIN_TO_SPLIT} or more), or train on all of them with no "
                                     "held-out part (Data step; from a terminal, --split 1,0,0).")])
    valid = max(1, round(distinct * ratios[1])) if ratios[1] > 0 else 0
    test = max(1, round(distinct * ratios[2])) if ratios[2] > 0 else 0
    if distinct - valid - test < 1:
        raise DataError([Problem("error", f"only {words.count(distinct, 'example')}: too few to split into train, "
                                          "valid and test", "(data)",
                                 fix="Add more examples, or give validation and test smaller shares.")])
    able = held_out_able(distinct, repeat_groups, asked_again, asked_again_repeated, repeats)
    valid = min(valid, able)
    test = min(test, able - valid)
    return (distinct if repeats == "drop" else count) - valid - test, valid, test


def report_split(report: dict, ratios, repeats: str = "drop") -> tuple[int, int, int]:
    """(train, valid, test) of checked data (its report, as a dict) as prepare() will write them; of a split the data
    brings, its own parts less their repeats."""
    if "all" in report["splits"] or not report["splits"]:
        return split_counts(report["count"], ratios, report.get("duplicates", 0), report.get("repeat_groups", 0),
                            repeats, report.get("asked_again", 0), report.get("asked_again_repeated", 0))
    return tuple(report["splits"].get(name, 0) - (0 if repeats == "train" and name == "train" else
                                                  report.get("repeats_in", {}).get(name, 0)) for name in SPLITS)


def can_split(report: dict, ratios=DEFAULT_RATIOS, repeats: str = "drop") -> bool:
    """Whether checked data has enough different examples to keep some apart by `ratios`."""
    try:
        report_split(report, ratios, repeats)
    except DataError:
        return False
    return True


def _parts(kept: dict, repeats: str, ratios, seed: int) -> dict:
    """The examples of each part: the person's own split, or one made by `ratios`, with no example (or a near copy of
    one) in two parts and, in a split made here, no question both trained on and held out; repeats within a part left
    out, or kept in training when `repeats` is "train"."""
    if None not in kept:  # the person's own split: the first part an example is in keeps it
        first, parts = {}, {name: [] for name in SPLITS}
        for name in SPLITS:
            for example in kept.get(name, []):
                key = same_text_key(example)
                if key not in first or repeats == "train" and first[key] == name == "train":
                    parts[name].append(example)
                first.setdefault(key, name)
        return parts
    groups: dict[int, list] = {}
    for example in kept[None]:
        groups.setdefault(same_text_key(example), []).append(example)
    questions = Counter(asked_key(group[0]) for group in groups.values())
    alone = {key: questions[asked_key(group[0])] == 1 for key, group in groups.items()}  # its question asked once
    count = len(kept[None])
    shared = [key for key in groups if not alone[key]]
    repeat_groups = sum(len(group) > 1 for group in groups.values())
    n_train, n_valid, n_test = split_counts(count, ratios, count - len(groups), repeat_groups, repeats, len(shared),
                                            sum(len(groups[key]) > 1 for key in shared))
    rng = random.Random(seed)
    if repeats == "drop":  # each example once; held out only where its question is asked once
        able = [group[0] for key, group in groups.items() if alone[key]]
        rng.shuffle(able)
        cut = len(able) - n_valid - n_test
        return {"train": able[:cut] + [groups[key][0] for key in shared], "valid": able[cut:cut + n_valid],
                "test": able[cut + n_valid:]}
    singles = [group[0] for key, group in groups.items() if len(group) == 1 and alone[key]]
    rng.shuffle(singles)
    train = singles[n_valid + n_test:] + [e for key, group in groups.items()
                                          if len(group) > 1 or not alone[key] for e in group]
    rng.shuffle(train)
    return {"train": train, "valid": singles[:n_valid], "test": singles[n_valid:n_valid + n_test]}


def prepare(sources, out_dir, ratios=DEFAULT_RATIOS, seed: int = 0, repeats: str = "drop",
            mapping: Mapping | None = None, skip_broken: bool = False) -> dict:
    """Write train/valid/test.jsonl and manifest.json into out_dir; a split the user brings is kept, less the examples
    it shares between parts. No example, or near copy of one, is in two parts; repeats within a part are left out, or
    with `repeats="train"` kept in training only.

    Raises DataError, before writing anything, when any record is wrong (records that cannot be read at all
    are left out instead when `skip_broken`). Sources are never modified.
    """
    report, kept, _ = _scan(sources, mapping, keep=True, skip_broken=skip_broken)
    if report.errors:
        raise DataError(report.errors)
    parts = _parts(kept, repeats, ratios, seed)
    out_dir = Path(out_dir)
    sources = [Path(s) for s in ([sources] if isinstance(sources, (str, Path)) else sources)]
    manifest = {"format": report.format, "seed": seed, "ratios": list(ratios), "repeats": repeats,
                "left_out": report.count - sum(len(p) for p in parts.values()),
                "columns": report.guessed, "sheet": (report.sheets or {}).get("chosen"), "skipped": report.skipped,
                "sources": [str(s.resolve()) for s in sources],
                # what was read, wherever it lies now (a moved app, a renamed file)
                "source_sha256": [file_digest(s)["sha256"] if s.is_file() else None for s in sources],
                "fixed": [str(p) for p in report.problems if p.severity == "fixable"], "files": {}}
    for name in SPLITS:
        path, examples = out_dir / f"{name}.jsonl", parts.get(name, [])
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
            for row in read(path, mapping.sheet if mapping else None):
                if len(rows) == limit:
                    return {"columns": columns, "rows": rows}
                if row.problem or not isinstance(row.record, dict):
                    continue
                columns += [str(key) for key in row.record if str(key) not in columns]
                example = to_example(row.record, mapping, {"file": row.file, "line": row.line})[0]
                rows.append({"place": place(row.file, row.line, row.unit), "record": row.record,
                             "example": example, "file": row.file, "line": row.line, "unit": row.unit})
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
