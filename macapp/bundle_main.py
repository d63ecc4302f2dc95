"""The main script of Tailor.app: opens the window; with `--worker JOB.json` runs one job instead, and with
`--python ARGS` runs what `python ARGS` would (`-m MODULE ...` or `SCRIPT ...`), for the bundle's children.

py2app's multiprocessing spawn is unreliable, and a bundle has no separate `python` to start.
"""

import runpy
import sys

from macapp.engine.bundle import PYTHON_FLAG, WORKER_FLAG


def run_python(args: list[str]) -> int:
    if args[:1] == ["-m"] and len(args) > 1:
        sys.argv = args[1:]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    elif args:
        sys.argv = args
        runpy.run_path(args[0], run_name="__main__")
    else:
        print(f"usage: {PYTHON_FLAG} -m MODULE [ARGS] | {PYTHON_FLAG} SCRIPT [ARGS]", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [WORKER_FLAG]:
        from macapp import worker

        return worker.main(argv[1:])
    if argv[:1] == [PYTHON_FLAG]:
        return run_python(argv[1:])
    from macapp.ui.app import main as open_window  # other arguments (Finder's, on old macOS) are ignored

    return open_window()


if __name__ == "__main__":
    sys.exit(main())
