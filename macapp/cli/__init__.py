"""The `tailor` command: every step of Tailor from a terminal, headless; one module per command.

Exit codes: 0 done, 1 failed, 2 bad input (the message names file:line and the fix), 130 stopped.
"""

import argparse
import sys
from pathlib import Path

from .. import exitcodes
from ..engine.check import blas
from ..engine.errors import InputError
from .app import add_app_command
from .check import add_check_command
from .data import add_data_commands
from .demo import add_demo_command
from .evaluate import add_eval_commands
from .export import add_export_commands
from .models import add_models_command
from .runs import add_runs_command
from .train import add_train_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tailor", description="Fine-tune an open LLM on your own Mac.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_check_command, add_data_commands, add_train_command, add_eval_commands, add_export_commands,
                add_models_command, add_runs_command, add_demo_command, add_app_command):
        add(sub)
    return parser


def main(argv=None) -> int:
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
        if args.command != "app":  # the window does no MLX work itself: its workers get OpenBLAS
            blas.reexec_with_openblas()
        if extra and not getattr(args, "takes_extra", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return args.func(args, extra) if getattr(args, "takes_extra", False) else args.func(args)
    except InputError as error:
        print(f"Error: {error}", file=sys.stderr)
        return exitcodes.BAD_INPUT
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return exitcodes.STOPPED
    except Exception as error:  # never a traceback: the plain words here, the details in a file
        print(f"Error: {unexpected(error)}", file=sys.stderr)
        return exitcodes.FAILED


def unexpected(error: Exception) -> str:
    """What to tell a person about an error nobody expected: a full disk in its own words; anything else in one
    line, with its details written to a log file to send along."""
    import traceback

    from ..engine import disk, files

    if said := disk.message(error, Path(getattr(error, "filename", None) or files.data_home())):
        return said
    log = files.data_home() / "logs" / "tailor-errors.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write("".join(traceback.format_exception(error)) + "\n")
        where = f" The details are in {log}."
    except OSError:
        where = ""
    return f"Tailor could not finish ({type(error).__name__}: {error}).{where}"


if __name__ == "__main__":
    sys.exit(main())
