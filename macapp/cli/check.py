"""`tailor check`: whether this machine can fine-tune, each problem with its fix."""

from .. import exitcodes


def cmd_check(args) -> int:
    from ..engine.check.environment import run_checks

    marks = {"ok": "ok  ", "warning": "warn", "problem": "FAIL"}
    checks = run_checks()
    for check in checks:
        technical = f" ({check.technical})" if check.technical else ""
        print(f"[{marks[check.status]}] {check.name}: {check.detail}{technical}"
              + (f"\n       {check.fix}" if check.fix else ""))
    return exitcodes.FAILED if any(c.status == "problem" for c in checks) else exitcodes.DONE


def add_check_command(sub) -> None:
    sub.add_parser("check", help="check this machine").set_defaults(func=cmd_check)
