"""Take a trained adapter out of Tailor, safely: what an export refuses (ExportError), how large it will be, and where
it is written. Plain, for the window too; fusing.py makes the fused model.

Every export goes through `staged`: the target is checked first (writable, free space, not already
there unless replacing is asked for), written into a hidden folder beside it, and renamed into place
at the end, so a failed export never leaves half a model where a finished one is expected.
"""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from .. import disk
from ..errors import InputError, Stopped
from ..models import models

HEADROOM = 1.1  # estimates are rough; ask for a tenth more room than the files should take


class ExportError(InputError):
    """An export that cannot be written where it was asked for; the message says why and what to do."""


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def check_target(out: Path, needed_bytes: int, overwrite: bool = False) -> None:
    """Refuse, with the reason and the fix, a target that exists, cannot be written, or has no room."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise ExportError(f"{out} already exists. Choose another name, or replace it (--overwrite in the "
                          "command line); the existing files are left as they are.")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise ExportError(f"Cannot write in {parent}: the folder is read-only for you. Choose another folder.")
    free = shutil.disk_usage(parent).free
    if free < needed_bytes * HEADROOM:
        raise ExportError(f"Not enough room in {parent}: this export needs about "
                          f"{disk.size_words(needed_bytes * HEADROOM)} and {disk.size_words(free)} are free. "
                          "Free some space or choose another disk.")


@contextmanager
def staged(out: Path, needed_bytes: int, overwrite: bool = False, should_stop=lambda: False):
    """A hidden scratch path beside `out` to write into; it replaces `out` only when the block succeeds and no stop
    was asked for meanwhile."""
    out = Path(out)
    check_target(out, needed_bytes, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = out.with_name(f".{out.name}.partial")
    _remove(scratch)
    try:
        yield scratch
        stop_if_asked(should_stop)
    except (OSError, RuntimeError) as error:
        _remove(scratch)
        if disk.is_full(error):
            raise disk.full(out.name, out.parent, needed_bytes, "export again; nothing was replaced") from None
        if isinstance(error, RuntimeError):
            raise
        raise ExportError(f"Could not write {out}: {error.strerror or error}. Nothing was replaced.") from None
    except BaseException:
        _remove(scratch)
        raise
    old = out.with_name(f".{out.name}.old")
    if out.exists():
        _remove(old)
        out.rename(old)
    scratch.rename(out)
    _remove(old)


def stop_if_asked(should_stop) -> None:
    """Between the long parts of an export: a stop asked for ends it here, before anything is replaced."""
    if should_stop():
        raise Stopped("Stopped before the export was put in place; nothing was replaced.")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def quantization_bits(model_path: Path) -> int | None:
    settings = models.read_config(model_path).get("quantization") or {}
    return settings.get("bits")


def fused_bytes(model_path: Path, dequantize: bool, bits: int) -> int:
    """About how large the fused folder will be."""
    size = folder_bytes(model_path)
    base_bits = quantization_bits(model_path)
    if base_bits and dequantize:
        size = size * 16 // base_bits
    if bits:
        size = size * bits // (base_bits if base_bits and not dequantize else 16)
    return size
