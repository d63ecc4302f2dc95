"""`tailor models`: the catalog with what fits this Mac, models already here, downloads with progress, and signing in
to Hugging Face (the token kept in the Keychain)."""

import getpass
import sys

from .. import exitcodes
from ..engine.errors import InputError
from ..engine.words import THIS_COMPUTER

FIT_WORDS = {"ok": "fits", "tight": "tight", "too_big": "too big"}
TYPICAL_LENGTH = 512  # tokens per example when no data is given: a question and a few paragraphs of answer


def _settings(method: str):
    from ..engine.train import config, presets

    values = {**presets.GENERIC, **presets.PRESETS["balanced"][2], "fine_tune_type": presets.METHODS[method][1]}
    return config.from_dict(values, source="settings"), presets.METHODS[method][2]


def _limit(memory_gb: float | None) -> int:
    from ..engine.check import mlx_device  # what MLX says this Mac can give: MLX is loaded here, on purpose
    from ..engine.models import memory

    return memory.mac_limit(int(memory_gb * 1024**3)) if memory_gb else mlx_device.machine_limit()


def _how_to_fit(row: dict) -> str:
    suggestion = row["suggestion"]
    if row["status"] != "too_big":
        return ""
    if row["form"] is None:
        return "offered only in 4 bits: a full fine-tune needs full precision (choose LoRA or QLoRA)"
    if not suggestion:
        return f"too big for {THIS_COMPUTER} whatever the settings"
    parts = [f"batch {suggestion['batch_size']}"]
    if suggestion["grad_checkpoint"]:
        parts.append("gradient checkpointing")
    parts.append(f"examples up to {suggestion['max_seq_length']} tokens")
    return "fits with " + ", ".join(parts)


def cmd_models(args) -> int:
    from ..engine import disk
    from ..engine.check import mlx_device
    from ..engine.models import catalog

    settings, bits = _settings(args.method)
    limit = _limit(args.memory)
    print(f"Judged for {args.method.upper()} (Balanced preset, batch {settings.batch_size}) on examples of up to "
          f"{args.length} tokens, against the {disk.size_words(limit)} "
          f"{'a Mac with ' + f'{args.memory:g} GB' if args.memory else 'this computer'} can give to training.\n")
    if not args.memory and not mlx_device.trains_on_gpu():
        print(f"{THIS_COMPUTER[0].upper()}{THIS_COMPUTER[1:]} has no graphics processor MLX can use: models of over "
              f"{catalog.PROCESSOR_ONLY_MOST / 1e9:g} billion parameters train for many hours here.\n")
    print(f"{'model':28}{'size':>7}  {'form':15}{'download':>10}  {'training':9} {'licence':28} repository")
    for row in catalog.table(settings, args.length, limit, bits):
        entry, form = row["entry"], row["form"] or next(iter(row["entry"].forms))
        gated = " (accept first)" if form in entry.gated else ""
        print(f"{entry.name[:27]:28}{entry.parameters / 1e9:>6.1f}B  {catalog.FORM_WORDS[form]:15}"
              f"{disk.size_words(row['download_bytes']):>10}  {FIT_WORDS[row['status']]:9} "
              f"{(entry.licence + gated)[:27]:28} {entry.forms[form]}")
        if how := _how_to_fit(row):
            print(f"{'':28}{'':9}  {how}")
    print("\nDownload one with `tailor models get REPOSITORY`; models already here: `tailor models here`.")
    return exitcodes.DONE


def cmd_here(args) -> int:
    from ..engine.models import model_places

    found = model_places.found()
    for model in found:
        print(f"{model.name:50} {model.place:24} {model.path}")
    if not found:
        print("No models on this computer yet: `tailor models` lists the ones to download.")
    return exitcodes.DONE


def cmd_get(args) -> int:
    from .. import jobs
    from ..engine.models import catalog, models
    from .running import run_job

    name = args.name
    if (known := catalog.find(name)) and name == known[0].key:  # a catalog key: the form that fits best here
        settings, bits = _settings("lora")
        chosen = catalog.fit(known[0], settings, TYPICAL_LENGTH, _limit(None), bits)["form"] or known[1]
        name = known[0].forms[chosen]
    if not models.is_repo_id(name):
        raise InputError(f"{args.name!r} is neither a model of `tailor models` nor a Hugging Face repository "
                         "(owner/name).")
    code, result = run_job(jobs.DownloadJob(run=str(jobs.scratch_folder("download")), model=name), "Downloading")
    if code == exitcodes.DONE and result:
        print(f"{name} is in {result['path']}. Train it with `tailor train --model {name} --data ...`.")
    elif code == exitcodes.STOPPED:
        print(f"Stopped; `tailor models get {name}` goes on from where it stopped.", file=sys.stderr)
    return code


def cmd_login(args) -> int:
    from ..engine.models import hub_token

    token = sys.stdin.readline() if not sys.stdin.isatty() else getpass.getpass(
        f"Hugging Face access token (make one at {hub_token.TOKENS_PAGE}): ")
    hub_token.save(token)
    print("Signed in: the token is kept in this computer's keychain.")
    return exitcodes.DONE


def cmd_logout(args) -> int:
    from ..engine.models import hub_token

    hub_token.forget()
    print("Signed out: the token was removed from the keychain.")
    return exitcodes.DONE


def add_models_command(sub) -> None:
    from ..engine.train.presets import METHODS

    models = sub.add_parser("models", help="models to train: what fits this Mac, download, sign in")
    models.add_argument("--method", choices=list(METHODS), default="lora", help="how you will train (default lora)")
    models.add_argument("--memory", type=float, metavar="GB", help="judge for a Mac with this much memory instead")
    models.add_argument("--length", type=int, default=TYPICAL_LENGTH, metavar="TOKENS",
                        help=f"the longest example's tokens (default {TYPICAL_LENGTH})")
    models.set_defaults(func=cmd_models)
    actions = models.add_subparsers(dest="action")
    get = actions.add_parser("get", help="download a model (resumes where it stopped)")
    get.add_argument("name", help="a repository (owner/name) or a name from the list")
    get.set_defaults(func=cmd_get)
    actions.add_parser("here", help="models already on this computer").set_defaults(func=cmd_here)
    actions.add_parser("login", help="keep a Hugging Face token in the keychain").set_defaults(func=cmd_login)
    actions.add_parser("logout", help="forget the Hugging Face token").set_defaults(func=cmd_logout)
