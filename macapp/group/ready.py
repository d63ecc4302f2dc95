"""Gets a run ready to train on several Macs before mlx.launch starts it: the run prepared here, each Mac checked
(versions, memory for its share of each step), given a copy of what it trains on, and the host file written.

Anything that keeps a Mac from training is said with its fix before any of them starts (a GroupRefused).
"""

import dataclasses
import tempfile
from pathlib import Path

from .. import jobs
from ..engine.data import datasets
from ..engine.errors import InputError
from ..engine.files import write_json_atomic
from ..engine.models import loading, memory, models, obtain
from ..engine.runs import events as ev
from ..engine.train import checkpoints, training
from . import agent, hosts


class GroupRefused(InputError):
    """Macs that cannot train together yet; `fix` says what to do for each."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


def _longest(model_path: Path, data: Path, limit: int) -> int:
    """The longest training example in tokens (as training counts it), at most `limit`."""
    tokenizer = loading.load_tokenizer(model_path)
    return min(max(datasets.token_length(example, tokenizer) for example in datasets.load_split(data, "train")), limit)


def _refuse(macs: list[hosts.Mac]) -> None:
    found = [(mac.name, problem) for mac in macs for problem in mac.problems]
    if not found:
        return
    if len(found) == 1:
        raise GroupRefused(found[0][1]["message"], found[0][1]["fix"])
    raise GroupRefused("The Macs cannot train together yet:\n" + "\n".join(f"- {p['message']} {p['fix']}"
                                                                        for _, p in found),
                       "Do what is said for each Mac, then start again.")


def ready(job: jobs.TrainJob, report) -> tuple[list[str], list[str]]:
    """mlx.launch's arguments for the job's Macs (in `job.hosts`), and their names in the order of the processes."""
    run_dir = Path(job.run)
    settings = training.prepare(run_dir, report)
    model_path = obtain.resolve(settings.model, report)
    wanted = {"run": run_dir.name, "model": settings.model, "model_fingerprint": models.fingerprint(model_path)}
    report({"type": ev.LOG, "message": "Checking the Macs that train together"})
    here = agent.facts({})  # this Mac's versions and memory: it holds the model and the data itself
    macs = hosts.check(job.hosts, here, wanted)
    _refuse(macs)
    if len(macs) < 2:
        raise InputError("Name at least one other Mac to train with (this Mac is always one of them).")
    if settings.batch_size % len(macs):
        raise InputError(f"Each of the {len(macs)} Macs takes an equal share of every batch, so the batch size "
                         f"({settings.batch_size}) must be a multiple of {len(macs)}.")
    share = dataclasses.replace(settings, batch_size=settings.batch_size // len(macs))
    longest = _longest(model_path, Path(settings.data), settings.max_seq_length)
    model_config = models.read_config(model_path)
    for i, mac in enumerate(macs):
        plan = memory.plan(model_config, share, longest, mac.facts["memory_limit"])
        if problem := hosts.memory_problem(mac, plan, len(macs), first=i == 0):
            mac.problems.append(problem)
    _refuse(macs)
    for mac in macs[1:]:
        _give(mac, job, settings, model_path, wanted["model_fingerprint"], report)
    write_json_atomic(agent.run_copy(run_dir.name) / "job-train.json",
                      jobs.TrainJob(run=str(run_dir), resume=job.resume).to_dict())
    names = [mac.name for mac in macs]
    hosts_file = run_dir / "hosts.json"
    write_json_atomic(hosts_file, hosts.hostfile(macs, job.hosts, "TAILOR_GROUP_NAMES=" + ",".join(names)))
    return ["--hostfile", str(hosts_file)], names


def _give(mac, job, settings, model_path: Path, fingerprint: str, report) -> None:
    """Send `mac` its copy of the run: settings pointing at its own paths, the data and the last checkpoint, and
    the model when it does not have the same one (by fingerprint)."""
    run = Path(job.run).name
    there, its_models = hosts.remote_paths(mac, run)
    items = []
    if mac.facts["data"] != datasets.fingerprint(settings.data):
        items.append((Path(settings.data), f"runs/{run}/data"))
    if (last := checkpoints.latest(Path(job.run) / "checkpoints")) and job.resume:
        items.append((last, f"runs/{run}/checkpoints/{last.name}"))
    model = mac.facts["model"]
    if model is None:
        items.append((model_path, f"models/{fingerprint}"))
        model = str(its_models / fingerprint)
    theirs = dataclasses.replace(settings, data=str(there / "data"), model=model, adapter_path="adapters")
    if settings.resume_adapter_file:
        items.append((Path(settings.resume_adapter_file), f"runs/{run}/resume_adapters.safetensors"))
        theirs.resume_adapter_file = str(there / "resume_adapters.safetensors")
    with tempfile.TemporaryDirectory() as folder:
        theirs.save(Path(folder) / "config.yaml")
        write_json_atomic(Path(folder) / "job-train.json", jobs.TrainJob(run=str(there), resume=job.resume).to_dict())
        items += [(Path(folder) / "config.yaml", f"runs/{run}/config.yaml"),
                  (Path(folder) / "job-train.json", f"runs/{run}/job-train.json")]
        hosts.copy_to(mac, run, items, lambda words: report({"type": ev.LOG, "message": words}))
