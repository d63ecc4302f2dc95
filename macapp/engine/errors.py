"""Bad input and its description: what the user gave cannot be used, where, and how to fix it.

The CLI answers an InputError with exit code 2 and the worker with an `input` error event, never a traceback.
"""

from dataclasses import dataclass


class InputError(ValueError):
    """Bad input (data, settings, model, run); the message names where and how to fix it."""


class ConfigError(InputError):
    """Settings that cannot run; `key` names the setting (dotted for nested ones) so the file's line can be found."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


class ModelError(InputError):
    """A model that cannot be used or fetched; the message says why and what to do."""


class RunFailed(Exception):
    """A run that started but cannot go on (e.g. the loss became NaN); `fix` says what to change."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


class Stopped(Exception):
    """Work stopped on request (Ctrl-C, Stop) before it finished; whatever it was replacing is left as it was."""


SHEET = "sheet:"  # the unit of a workbook's rows: "sheet:" and the sheet's name


def sheet_unit(name: str) -> str:
    return SHEET + name


def place(file: str, line: int | None = None, unit: str = "line") -> str:
    """Where something is, as a person finds it: file:line, the item or row of a file, or a sheet's row."""
    if line is None:
        return file
    if unit.startswith(SHEET):
        return f"{file}, sheet \u201c{unit[len(SHEET):]}\u201d, row {line}"
    return f"{file}:{line}" if unit == "line" else f"{file} ({unit} {line})"


@dataclass
class Problem:
    """One thing wrong with the data, located precisely enough to fix it.

    severity: "error" stops preparation; "fixable" means mlx-lm could not read the file as it is but
    `prepare` repairs it; "warning" is worth knowing and changes nothing.
    """

    severity: str
    message: str
    file: str
    line: int | None = None
    field: str | None = None
    fix: str = ""
    unit: str = "line"  # "line" (JSONL, CSV rows by their line), "item" (JSON array), "row" (Parquet), a sheet's

    def place(self) -> str:
        return place(self.file, self.line, self.unit)

    def __str__(self) -> str:
        what = f"{self.field}: {self.message}" if self.field else self.message
        return f"{self.place()}: {what}" + (f" Fix: {self.fix}" if self.fix else "")


class DataError(InputError):
    """Bad input data; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n".join(str(p) for p in problems[:20])
        more = f"\n... and {len(problems) - 20} more problems" if len(problems) > 20 else ""
        super().__init__(shown + more)
