"""`tailor runs`: every run with its state, best validation loss, model and date; a damaged one with what is wrong."""

from .. import exitcodes


def cmd_runs(args) -> int:
    from ..engine.runs import runs

    rows = runs.list_runs()
    if not rows:
        print("No runs yet. Start one with `tailor demo` or `tailor train`.")
    for row in rows:
        if row["status"] == "damaged":
            print(f"{row['id']:40} damaged   {row['state'].outcome()} Remove its folder or mend it: {row['path']}")
            continue
        best = f"{row['best_val_loss']:.3f}" if row["best_val_loss"] is not None else "-"
        print(f"{row['id']:40} {row['status']:9} best val {best:>6}  {row['model']}  {row['created']}")
    return exitcodes.DONE


def add_runs_command(sub) -> None:
    sub.add_parser("runs", help="list past runs").set_defaults(func=cmd_runs)
