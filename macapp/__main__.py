"""`python -m macapp` and the `tailor` command: Tailor's command line, loaded here so that a Ctrl-C while it loads
ends it quietly with exit code 130 rather than with a traceback."""

import sys


def main() -> int:
    try:
        from .cli import main as command_line
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130  # exitcodes.STOPPED, which cannot be imported before this point without the same risk
    return command_line()


if __name__ == "__main__":
    sys.exit(main())
