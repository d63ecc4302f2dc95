"""`tailor train`: fine-tune from a terminal with mlx_lm lora's flags and YAML, or resume a run.

The run folder gets the data checked and split, its config.yaml and spec.json; the training runs in a worker.
"""

import argparse
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from .. import exitcodes
from ..engine.data.datasets import DEFAULT_RATIOS
from ..engine.errors import InputError
from ..jobs import TrainJob
from .running import run_job

# `mlx_lm lora` flags Tailor understands, with their types; others of mlx-lm's are accepted and ignored.
LORA_FLAGS = {
    "--model": str, "--data": str, "--fine-tune-type": str, "--optimizer": str, "--num-layers": int,
    "--batch-size": int, "--iters": int, "--val-batches": int, "--learning-rate": float,
    "--steps-per-report": int, "--steps-per-eval": int, "--grad-accumulation-steps": int,
    "--resume-adapter-file": str, "--adapter-path": str, "--save-every": int, "--max-seq-length": int,
    "--seed": int, "--clear-cache-threshold": int, "--train-mode": str, "--beta": float,
}
LORA_SWITCHES = ("--mask-prompt", "--grad-checkpoint")
IGNORED_SWITCHES = ("--train", "--test", "--trust-remote-code")
IGNORED_FLAGS = ("--test-batches", "--report-to", "--project-name")


def _train_settings(args, extra: list[str]) -> tuple[dict, set]:
    """Settings from --config, then mlx-lm style flags on top (flags win, as in mlx_lm lora); and the keys the
    flags gave."""
    from ..engine.train import config

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
    if args.start_from:
        from ..engine.runs import runs

        values.update(runs.continued_from(runs.find(args.start_from)))  # flags still win, as over a config
    if args.method:
        flags["train_mode"] = args.method
    given = set()
    for flag in (*LORA_FLAGS, *LORA_SWITCHES):
        key = flag[2:].replace("-", "_")
        if flags[key] is not None:
            values[key] = flags[key]
            given.add(key)
    return values, given


def _asked_length(args, iters_given: bool):
    """The length asked with --epochs or --minutes (a Length), or None for the steps of --iters or the config; two
    ways at once are refused, naming both."""
    from ..engine.train.training_length import Length

    asked = {flag: (unit, amount) for flag, unit, amount in (("--epochs", "passes", args.epochs),
                                                             ("--minutes", "minutes", args.minutes))
             if amount is not None}
    named = (["--iters"] if iters_given else []) + list(asked)
    if len(named) > 1:
        raise InputError(f"{' and '.join(named)} each say how long to train: give only one of them.")
    if not asked:
        return None
    ((flag, (unit, amount)),) = asked.items()
    try:
        return Length(unit, amount)
    except InputError as error:
        raise InputError(f"{flag} {amount:g}: {error}") from None


def _steps_for(length, settings, source: Path, ratios, method: str, repeats: str) -> int:
    """The steps `length` comes to on this data and this Mac; prints them and why."""
    from ..engine.data import data_size, datasets
    from ..engine.errors import DataError
    from ..engine.train import training_length

    report = datasets.inspect(source)
    if report.errors:  # said now, as the worker would say it, before any run folder is made
        raise DataError(report.errors)
    datasets.report_split(report.to_dict(), ratios, repeats)  # too few to split: said as the worker would say it
    train, _ = data_size.split_sizes(report.to_dict(), ratios, repeats)
    speed = training_length.measured_seconds_per_step(settings.model, method, settings.batch_size)
    try:
        steps = training_length.steps(length, train, settings.batch_size, speed)
    except training_length.SpeedUnknown:
        raise InputError(f"--minutes {length.amount:g}: how fast this model trains with {method} on this Mac is not "
                         "known yet (Tailor measures it on a run). Give --iters or --epochs instead, or train once "
                         "with them first.") from None
    print(training_length.describe(steps, train, settings.batch_size, speed), file=sys.stderr)
    return steps


def prepare_run(name: str, values: dict, quantize_bits: int = 0, ratios=DEFAULT_RATIOS, length=None,
                repeats: str = "drop"):
    """A run folder with its spec.json and config.yaml, as the window makes one; returns (folder, config). The
    worker checks and splits its data on the first start. With quantize_bits (4 or 8) it trains on a quantized
    copy of the model: QLoRA. A `length` in passes or minutes sets the steps, and the spec keeps it as asked;
    `repeats` says what becomes of repeated examples (datasets.REPEATS).
    """
    from ..engine.models import models
    from ..engine.runs import runs
    from ..engine.train import config
    from ..engine.train.run_spec import RunSpec

    settings = config.from_dict(values, source="settings")
    if not settings.data:
        raise config.ConfigError("No data given. Use --data FILE_OR_FOLDER (or data: in the config file).")
    source = Path(settings.data)
    if not source.exists():
        raise config.ConfigError(f"{source}: data not found. Give a .jsonl file or a folder with train.jsonl.")
    if settings.model != "demo" and not models.is_repo_id(settings.model):  # all checked before a folder is made
        if not Path(settings.model).expanduser().exists():
            models.refuse_catalog_name(settings.model)
        settings.model = str(Path(settings.model).expanduser().resolve())
        models.check_folder(Path(settings.model))
    if settings.resume_adapter_file:
        settings.resume_adapter_file = str(Path(settings.resume_adapter_file).resolve())
    method = "qlora" if quantize_bits else settings.fine_tune_type
    if length is not None:
        settings.iters = _steps_for(length, settings, source, ratios, method, repeats)
    run_dir = runs.create(name)
    kept = {key: value for key, value in settings.to_dict().items()  # what a new run of the same would take
            if key not in ("model", "data", "adapter_path", "resume_adapter_file")}
    try:
        RunSpec(settings.model, [str(source.resolve())], kept, None, tuple(ratios), settings.seed, method=method,
                preset="", quantize_bits=quantize_bits, length=asdict(length) if length else None,
                repeats=repeats).save(run_dir)
        settings.data = str(run_dir / "data")
        if "adapter_path" in values:
            settings.adapter_path = str(Path(values["adapter_path"]).resolve())
        settings.save(run_dir / "config.yaml")
    except BaseException:  # a full disk, Ctrl-C: no half-made run is left
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir, settings


def train_in_worker(run_dir: Path, resume: bool = False, processes: int = 1,
                    hosts: dict | None = None) -> tuple[int, dict | None]:
    """Train the run in a worker (or `processes` of them training together, or one on each Mac of `hosts`), with its
    progress; a new run that was refused (its data, settings that do not fit it, Macs that cannot train together)
    leaves no trace: it never trained, so it held nothing of value."""
    try:
        code, result = run_job(TrainJob(run=str(run_dir), resume=resume, processes=processes, hosts=hosts), "Training")
    except BaseException:  # the worker could not even start (a full disk): a new run never began
        if not resume and not (run_dir / "events.jsonl").exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if code == exitcodes.BAD_INPUT and not resume:
        shutil.rmtree(run_dir, ignore_errors=True)
    return code, result


def cmd_train(args, extra) -> int:
    from ..engine.train import config

    hosts = None
    if args.hosts:
        from ..group.hosts import read

        if args.processes != 1:
            raise InputError("--hosts trains one process on each Mac; give --processes or --hosts, not both.")
        hosts = read(args.hosts)  # checked before a run folder is made; the Macs themselves, once it is prepared

    if args.resume:
        from ..engine.runs import runs

        if extra or args.config or args.epochs is not None or args.minutes is not None or args.method \
                or args.start_from:
            raise InputError("--resume continues a run with its own settings; give no other settings with it.")
        run_dir = runs.find(args.resume)
        _check_shared(config.load(run_dir / "config.yaml").batch_size, args.processes)
    else:
        values, given = _train_settings(args, extra)
        length = _asked_length(args, "iters" in given)
        _check_shared(config.from_dict(values, source="settings").batch_size, args.processes)
        run_dir, _ = prepare_run(args.name or Path(values.get("data", "run")).stem, values, args.quantize_base,
                                 length=length, repeats="train" if args.keep_repeats else "drop")
    print(f"Run folder: {run_dir}", file=sys.stderr)
    return train_in_worker(run_dir, bool(args.resume), args.processes, hosts)[0]


def _check_shared(batch_size: int, processes: int) -> None:
    """Processes that train together each take an equal share of every batch."""
    if processes < 1 or batch_size % processes:
        raise InputError(f"--processes {processes}: each process takes an equal share of every batch, so the batch "
                         f"size ({batch_size}) must be a multiple of it. Use --processes "
                         f"{max(d for d in range(1, batch_size + 1) if batch_size % d == 0 and d <= max(processes, 1))}"
                         " or change the batch size.")


def add_train_command(sub) -> None:
    train = sub.add_parser("train", help="fine-tune (takes mlx_lm lora's flags and YAML)")
    train.add_argument("-c", "--config", help="YAML config, in mlx-lm's lora keys")
    train.add_argument("--name", help="a name for the run folder")
    train.add_argument("--keep-repeats", action="store_true",
                       help="keep every copy of a repeated example, in training only (default: keep one)")
    train.add_argument("--quantize-base", type=int, choices=(4, 8), default=0,
                       help="QLoRA: train on a 4- or 8-bit copy of the model (made once with mlx_lm convert)")
    train.add_argument("--epochs", type=float, metavar="N",
                       help="go N times through the training examples (steps worked out from their number)")
    train.add_argument("--minutes", type=float, metavar="M",
                       help="train for about M minutes (steps worked out from your last run of this model and "
                            "method on this computer)")
    train.add_argument("--method", choices=("sft", "dpo", "orpo"),
                       help="sft learns from examples (the default); dpo and orpo learn by choosing, from pairs of a "
                            "better and a worse answer (--beta sets DPO's beta or ORPO's lambda, 0.1 by default)")
    train.add_argument("--from", dest="start_from", metavar="RUN",
                       help="start from a finished run's adapter (its best, else its last) on its model: e.g. teach "
                            "by examples first, then by choosing")
    train.add_argument("--resume", metavar="RUN", help="continue a stopped or killed run from its last checkpoint")
    train.add_argument("--processes", type=int, default=1, metavar="N",
                       help="train as N processes on this computer, each taking its share of every batch (MLX's "
                            "ring backend over 127.0.0.1; the way to try training on several Macs)")
    train.add_argument("--hosts", metavar="MACS",
                       help="train on several Macs at once: the other Macs' names separated by commas (reached over "
                            "SSH), or a host file in mlx.launch's format; each is checked and given the run's files")
    train.set_defaults(func=cmd_train, takes_extra=True)
