"""The `tailor` command: every step of Tailor from a terminal, headless.

Exit codes: 0 done, 1 failed, 2 bad input (the message names file:line and the fix), 130 stopped.
"""

import argparse
import shutil
import signal
import sys
from pathlib import Path

from . import exitcodes, jobs
from .engine import blas
from .cli_data import add_data_commands
from .cli_eval import add_eval_commands
from .cli_export import add_export_commands
from .engine.errors import InputError
from .terminal import ProgressView


# `mlx_lm lora` flags Tailor understands, with their types; others of mlx-lm's are accepted and ignored.
LORA_FLAGS = {
    "--model": str, "--data": str, "--fine-tune-type": str, "--optimizer": str, "--num-layers": int,
    "--batch-size": int, "--iters": int, "--val-batches": int, "--learning-rate": float,
    "--steps-per-report": int, "--steps-per-eval": int, "--grad-accumulation-steps": int,
    "--resume-adapter-file": str, "--adapter-path": str, "--save-every": int, "--max-seq-length": int,
    "--seed": int, "--clear-cache-threshold": int,
}
LORA_SWITCHES = ("--mask-prompt", "--grad-checkpoint")
IGNORED_SWITCHES = ("--train", "--test", "--trust-remote-code")
IGNORED_FLAGS = ("--test-batches", "--report-to", "--project-name")


def run_job(job: dict, title: str) -> tuple[int, dict | None]:
    """Run a job in a worker, showing its progress; returns (exit code, result)."""
    view, result = ProgressView(title), None
    process = jobs.start(job)
    try:
        for event in jobs.events(process):
            view.handle(event)
            if event.get("type") == "done":
                result = event.get("result")
    except KeyboardInterrupt:  # ask the worker to stop (a terminal's Ctrl-C reaches it too), let it save
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        process.send_signal(signal.SIGINT)
        for event in jobs.events(process):
            view.handle(event)
    view.finish()
    explanation = jobs.unexpected_end(process.returncode, Path(job["run"]), view.error is not None)
    if explanation:
        print(f"{title}: {explanation}", file=sys.stderr)
        return exitcodes.FAILED, None
    return process.returncode, result


def cmd_check(args) -> int:
    from .engine.environment import run_checks

    marks = {"ok": "ok  ", "warning": "warn", "problem": "FAIL"}
    checks = run_checks()
    for check in checks:
        print(f"[{marks[check.status]}] {check.name}: {check.detail}" + (f"\n       {check.fix}" if check.fix else ""))
    return exitcodes.FAILED if any(c.status == "problem" for c in checks) else exitcodes.DONE


def _train_settings(args, extra: list[str]) -> dict:
    """Settings from --config, then mlx-lm style flags on top (flags win, as in mlx_lm lora)."""
    from .engine import config

    parser = argparse.ArgumentParser(prog="tailor train", add_help=False)
    for flag, kind in LORA_FLAGS.items():
        parser.add_argument(flag, type=kind)
    for flag in LORA_SWITCHES:
        parser.add_argument(flag, action="store_true", default=None)
    for flag in IGNORED_SWITCHES:
        parser.add_argument(flag, action="store_true")
    for flag in IGNORED_FLAGS:
        parser.add_argument(flag)
    flags = vars(parser.parse_args(extra))
    values = config.read_yaml(args.config) if args.config else {}
    for flag in (*LORA_FLAGS, *LORA_SWITCHES):
        key = flag[2:].replace("-", "_")
        if flags[key] is not None:
            values[key] = flags[key]
    return values


def prepare_run(name: str, values: dict, quantize_bits: int = 0):
    """A run folder with its data checked and copied in, and its config.yaml; returns (folder, config).

    With quantize_bits (4 or 8) the run trains on a quantized copy of the model: QLoRA.
    """
    from .engine import config, datasets, runs

    settings = config.from_dict(values, source="settings")
    if not settings.data:
        raise config.ConfigError("No data given. Use --data FILE_OR_FOLDER (or data: in the config file).")
    source = Path(settings.data)
    if not source.exists():
        raise config.ConfigError(f"{source}: data not found. Give a .jsonl file or a folder with train.jsonl.")
    run_dir = runs.create(name)
    try:
        datasets.prepare([source], run_dir / "data", (0.9, 0.1, 0.0), seed=settings.seed)
        if quantize_bits:  # only once the data is known to be good: quantizing a real model takes minutes
            from .engine import models

            settings.model = str(models.quantized(models.resolve(settings.model), quantize_bits,
                                                  lambda e: print(e["message"], file=sys.stderr)))
    except InputError:
        shutil.rmtree(run_dir)  # brand new and holding nothing of value: bad input leaves no trace
        raise
    settings.data = str(run_dir / "data")
    if "adapter_path" in values:
        settings.adapter_path = str(Path(values["adapter_path"]).resolve())
    settings.save(run_dir / "config.yaml")
    return run_dir, settings


def cmd_train(args, extra) -> int:
    if args.resume:
        from .engine import runs

        if extra or args.config:
            raise InputError("--resume continues a run with its own settings; give no other settings with it.")
        run_dir = runs.find(args.resume)
    else:
        values = _train_settings(args, extra)
        run_dir, _ = prepare_run(args.name or Path(values.get("data", "run")).stem, values, args.quantize_base)
    print(f"Run folder: {run_dir}", file=sys.stderr)
    code, _ = run_job({"kind": "train", "run": str(run_dir), "resume": bool(args.resume)}, "Training")
    return code


def cmd_runs(args) -> int:
    from .engine import runs

    rows = runs.list_runs()
    if not rows:
        print("No runs yet. Start one with `tailor demo` or `tailor train`.")
    for row in rows:
        best = f"{row['best_val_loss']:.3f}" if row["best_val_loss"] is not None else "-"
        print(f"{row['id']:40} {row['status']:9} best val {best:>6}  {row['model']}  {row['created']}")
    return exitcodes.DONE


def cmd_demo(args) -> int:
    from .demo_run import run_demo

    return run_demo(args.iters)


def cmd_app(args) -> int:
    from .ui.app import has_display, main as open_window

    if not has_display():
        print("No screen here (no DISPLAY): running the demo in this terminal instead. On a Mac, or with a "
              "screen, `tailor app` opens the window.", file=sys.stderr)
        return cmd_demo(argparse.Namespace(iters=200))
    return open_window(timing=args.timing)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tailor", description="Fine-tune an open LLM on your own Mac.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="check this machine").set_defaults(func=cmd_check)

    add_data_commands(sub)

    train = sub.add_parser("train", help="fine-tune (takes mlx_lm lora's flags and YAML)")
    train.add_argument("-c", "--config", help="YAML config, in mlx-lm's lora keys")
    train.add_argument("--name", help="a name for the run folder")
    train.add_argument("--quantize-base", type=int, choices=(4, 8), default=0,
                       help="QLoRA: train on a 4- or 8-bit copy of the model (made once with mlx_lm convert)")
    train.add_argument("--resume", metavar="RUN", help="continue a stopped or killed run from its last checkpoint")
    train.set_defaults(func=cmd_train, takes_extra=True)

    add_eval_commands(sub)
    add_export_commands(sub)

    sub.add_parser("runs", help="list past runs").set_defaults(func=cmd_runs)
    demo = sub.add_parser("demo", help="the whole path on the built-in demo model and data")
    demo.add_argument("--iters", type=int, default=200)
    demo.set_defaults(func=cmd_demo)
    app = sub.add_parser("app", help="open Tailor's window (the demo is chosen until you choose otherwise)")
    app.add_argument("--timing", action="store_true", help=argparse.SUPPRESS)
    app.set_defaults(func=cmd_app)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.command != "app":  # the window does no MLX work itself: its workers get OpenBLAS
        blas.reexec_with_openblas()
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args, extra) if getattr(args, "takes_extra", False) else args.func(args)
    except InputError as error:
        print(f"Error: {error}", file=sys.stderr)
        return exitcodes.BAD_INPUT
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return exitcodes.STOPPED


if __name__ == "__main__":
    sys.exit(main())
