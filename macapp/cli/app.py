"""`tailor app`: open the window; with no screen, run the demo in the terminal instead."""

import argparse
import sys


def cmd_app(args) -> int:
    from ..ui.app import has_display, main as open_window
    from .demo import cmd_demo

    if not has_display():
        print("No screen here (no DISPLAY): running the demo in this terminal instead. On a Mac, or with a "
              "screen, `tailor app` opens the window.", file=sys.stderr)
        return cmd_demo(argparse.Namespace(iters=200))
    return open_window(timing=args.timing)


def add_app_command(sub) -> None:
    app = sub.add_parser("app", help="open Tailor's window (the demo is chosen until you choose otherwise)")
    app.add_argument("--timing", action="store_true", help=argparse.SUPPRESS)
    app.set_defaults(func=cmd_app)
