"""Room on the disk: sizes in words, and a full disk turned into one plain message wherever it happens.

Writers check the room they need first; when a disk fills anyway (MLX's writes say so in their own words), the
error becomes a `DiskFull` that says what could not be written, where, and how much room to make.
"""

import errno
import shutil
from pathlib import Path

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskFull(Exception):
    """A disk that filled up, or has too little room for what is about to be written; the message says what to do."""


def size_words(count: float) -> str:
    """A byte count as a person reads it: 3.2 GB, 45 MB, 12 KB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}" if count < 10 * size else f"{count / size:.0f} {unit}"
    return f"{count:.0f} bytes"


def existing(path: Path) -> Path:
    """`path`, or the nearest folder above it that exists (where its room is measured)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(existing(path)).free


def is_full(error: BaseException) -> bool:
    """True for an error that means the disk had no room: the system's own, or MLX's failed write."""
    if isinstance(error, OSError):
        return error.errno in FULL_ERRNOS
    return isinstance(error, RuntimeError) and str(error).startswith("[write] Unable to write")


def message(error: BaseException, where: Path) -> str | None:
    """The plain words for an error that means a full disk (a DiskFull says its own), else None."""
    if isinstance(error, DiskFull):
        return str(error)
    return str(full("a file", where)) if is_full(error) else None


def full(what: str, where: Path, needed: float = 0, then: str = "try again") -> DiskFull:
    """The one message for a full disk: what could not be written, where, the room to make, and what comes next."""
    room = f"at least {size_words(needed)}" if needed else "some space"
    return DiskFull(f"The disk is full: {what} could not be written in {existing(where)} "
                    f"({size_words(free_bytes(where))} free). Make {room} there (empty the Trash, or remove old "
                    f"runs or exports), then {then}.")
