"""`python -m macapp` and the `tailor` command: Tailor's command line, loaded here so that a Ctrl-C while it loads
ends it quietly with exit code 130 rather than with a traceback."""

import signal
import sys


def main() -> int:
    # Ctrl-C always stops a command, even one started with SIGINT ignored (as a shell starts what it runs in the
    # background, and a script may): it is how a stop is asked for.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        from .cli import main as command_line
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130  # exitcodes.STOPPED, which cannot be imported before this point without the same risk
    return command_line()


if __name__ == "__main__":
    sys.exit(main())
