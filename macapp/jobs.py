"""The jobs a worker runs, one typed spec per kind, and starting, following and stopping a worker; shared by the
CLI and the app.

The worker gets the system OpenBLAS preloaded on Linux and the GPU watchdog workaround on macOS 26 or later; its
stderr goes to the job folder's worker.log. A stop is a file in the job folder that the worker watches, with SIGINT
to wake it: a signal alone can be lost (C code that runs a command ignores SIGINT meanwhile).
"""

import itertools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

from . import exitcodes
from .engine import bundle
from .engine.check import blas, gpu_guard
from .engine.errors import InputError
from .engine.files import data_home, write_json_atomic, write_text_atomic
from .engine.runs import events as ev


@dataclass(kw_only=True)
class Job:
    """What every job has: its kind, and the folder its events go to (a run folder, or a scratch folder)."""

    kind: ClassVar[str] = ""
    run: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}


@dataclass(kw_only=True)
class CheckJob(Job):
    kind: ClassVar[str] = "check"


@dataclass(kw_only=True)
class HostsJob(Job):
    """Ask the Macs of `hosts` (group.hosts.read's shape) whether they can train with this one."""

    kind: ClassVar[str] = "hosts"
    hosts: dict


@dataclass(kw_only=True)
class InspectJob(Job):
    """Read and check data files; with a model, count tokens with its tokenizer."""

    kind: ClassVar[str] = "inspect"
    sources: list[str]
    mapping: dict | None = None  # formats.Mapping's fields
    model: str | None = None
    max_seq_length: int = 2048
    batch_size: int | None = None
    skip_broken: bool = False


@dataclass(kw_only=True)
class DownloadJob(Job):
    kind: ClassVar[str] = "download"
    model: str


@dataclass(kw_only=True)
class SynthJob(Job):
    """Make examples with a local model into the folder `run` (a recipe.Recipe's fields), going on from what is
    there; with `split`, also write train/valid/test.jsonl beside them."""

    kind: ClassVar[str] = "synth"
    recipe: dict
    split: bool = False


@dataclass(kw_only=True)
class TrainJob(Job):
    """Train the run in `run` (its data is checked and split from its spec.json on the first start)."""

    kind: ClassVar[str] = "train"
    resume: bool = False
    processes: int = 1  # on this machine, training together (mx.distributed, ring over 127.0.0.1)
    hosts: dict | None = None  # or on these Macs: group.hosts.read's host file (mlx.launch's shape)


@dataclass(kw_only=True)
class AnswerJob(Job):
    """Answer a chat with the base and/or the tuned model of run `source`, streamed."""

    kind: ClassVar[str] = "answer"
    source: str
    messages: list[dict]
    sides: list[str] = field(default_factory=lambda: ["base", "tuned"])
    checkpoint: str = "last"
    sampling: dict | None = None
    system: str | None = None


@dataclass(kw_only=True)
class HeldOutJob(Job):
    """A job that asks run `source`'s model (with its `checkpoint` adapter) held-out prompts, drawn by `sampling`."""

    source: str
    checkpoint: str = "last"
    sampling: dict | None = None
    limit: int | None = None


@dataclass(kw_only=True)
class EvaluateJob(HeldOutJob):
    """Score the base and the tuned model on a prompt set (the run's test split by default) and judge them; the
    report goes into the run."""

    kind: ClassVar[str] = "evaluate"
    prompts: str | None = None
    check: dict | None = None
    system: str | None = None
    judge: dict | None = None  # judge_choice.Judge's fields: a server and its model, or an MLX model; the criteria
    general: dict | None = None  # general_scores.GeneralCheck's fields: the question sets and how many of each


@dataclass(kw_only=True)
class CheckExportJob(HeldOutJob):
    """Ask the run's GGUF (`gguf`, else its latest) and its Ollama model (when Ollama runs) the held-out prompts, and
    compare with the tested model."""

    kind: ClassVar[str] = "check_export"
    gguf: str | None = None


@dataclass(kw_only=True)
class ModelJob(Job):
    """A job on a model and an adapter folder, writing to `out`."""

    model: str
    adapter: str | None = None
    out: str = ""
    overwrite: bool = False


@dataclass(kw_only=True)
class FuseJob(ModelJob):
    kind: ClassVar[str] = "fuse"
    dequantize: bool | None = None
    bits: int = 0


@dataclass(kw_only=True)
class GgufJob(ModelJob):
    """A GGUF measured by llama.cpp against the fused model, with its Modelfile; an Ollama model when named."""

    kind: ClassVar[str] = "gguf"
    outtype: str | None = None
    data: str | None = None  # the run's data folder: its examples for the fidelity check
    verify: bool = True
    converter: str | None = None
    system: str | None = None
    run_name: str = ""
    ollama_name: str | None = None


@dataclass(kw_only=True)
class OllamaJob(GgufJob):
    """An Ollama model `name`: from the fused folder where Ollama reads the architecture, else through a GGUF."""

    kind: ClassVar[str] = "ollama"
    name: str
    quantize: str | None = None


@dataclass(kw_only=True)
class ServeJob(ModelJob):
    kind: ClassVar[str] = "serve"
    host: str = "127.0.0.1"
    port: int | None = None
    allow_remote: bool = False


@dataclass(kw_only=True)
class InstallExportJob(Job):
    kind: ClassVar[str] = "install_export"


@dataclass(kw_only=True)
class UploadJob(Job):
    """Upload `folder` to the hub as `repo`, with a model card written from run `source` when given. With `model` and
    `adapter`, the standalone model is fused into `folder` first when it is not there yet."""

    kind: ClassVar[str] = "upload"
    folder: str
    repo: str
    private: bool = True
    source: str | None = None
    model: str | None = None
    adapter: str | None = None


KINDS = {kind.kind: kind for kind in (CheckJob, HostsJob, InspectJob, DownloadJob, SynthJob, TrainJob, AnswerJob,
                                      EvaluateJob, CheckExportJob, FuseJob, GgufJob, OllamaJob, ServeJob,
                                      InstallExportJob, UploadJob)}


def from_dict(values: dict) -> Job:
    """The typed job of a job file's contents; an InputError names an unknown kind or field."""
    kind = KINDS.get(values.get("kind"))
    if kind is None:
        raise InputError(f"unknown job kind {values.get('kind')!r}; known: {', '.join(KINDS)}")
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(values) - known - {"kind"})
    if unknown:
        raise InputError(f"a {kind.kind} job has no field {unknown[0]!r}")
    return kind(**{key: value for key, value in values.items() if key != "kind"})


_serial = itertools.count()


def scratch_folder(kind: str) -> Path:
    """A folder for a job that belongs to no run (check, inspect, download); the newest few are kept."""
    root = data_home() / "jobs"
    root.mkdir(parents=True, exist_ok=True)
    for old in sorted(root.iterdir())[:-20]:
        shutil.rmtree(old, ignore_errors=True)
    folder = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{os.getpid()}-{next(_serial)}"
    folder.mkdir()
    return folder


LEADER = "TAILOR_GROUP_LEADER"  # set by macapp.group.launcher for the processes it starts
COMMAND = "TAILOR_COMMAND"  # the pid of the command that started an attached worker, which stops when it is gone


def session_pid() -> int:
    """The process that stands for this worker's session, which the window and the menu bar follow and stop: this
    one, or the launcher of the group it trains with."""
    return int(os.environ.get(LEADER, os.getpid()))


def worker_environment(system: str = sys.platform, os_version: str | None = None) -> dict:
    """A worker's environment: OpenBLAS preloaded on Linux, and on macOS 26 or later the GPU watchdog workaround,
    which Metal reads only as the process starts."""
    return gpu_guard.environment(blas.environment(), system,
                                 platform.mac_ver()[0] if os_version is None else os_version)


def start(job: Job, detached: bool = False, secrets: dict | None = None) -> subprocess.Popen:
    """Write the job spec into its folder (job.run) and start the worker on it.

    Attached, the worker's events come through its stdout; detached (the app), it runs in its own
    session, so it outlives the window, and its events are read from the folder's events.jsonl.
    `secrets` (such as HF_TOKEN) reach this worker through its environment only, never the job file.
    """
    run_dir = Path(job.run)
    job_file = run_dir / f"job-{job.kind}.json"
    write_json_atomic(job_file, job.to_dict())
    env = {**worker_environment(), **(secrets or {}), **({} if detached else {COMMAND: str(os.getpid())})}
    together = isinstance(job, TrainJob) and (job.processes > 1 or job.hosts)
    command = (bundle.worker(job_file) if not together else  # else through mlx.launch, by macapp.group.launcher
               [*bundle.module("macapp.group.launcher"), str(job_file)])
    log = open(run_dir / "worker.log", "ab")
    # The worker starts with SIGINT held (a blocked signal stays pending across exec): a stop while it starts waits
    # for the worker's own handler instead of ending it with a traceback.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        if detached:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
                                       env=env, start_new_session=True)
        else:  # in a process group of its own: a terminal's Ctrl-C and hang-up reach the command alone, which asks
            # the worker to stop; they would kill the compiler or converter the worker runs, and the worker itself.
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env, text=True, bufsize=1,
                                       process_group=0)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    finally:
        log.close()
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    except KeyboardInterrupt:  # the command's own Ctrl-C, held while the worker started: asked of the worker
        ask_to_stop(run_dir, process.pid)
    return process


STOP_FILE = "stop-request"  # in the job folder: the pid of the worker session asked to stop


def ask_to_stop(folder, pid: int) -> None:
    """Ask worker session `pid`, working in `folder`, to stop and save: the file it watches, then SIGINT to wake it
    from a wait."""
    write_text_atomic(Path(folder) / STOP_FILE, str(pid))
    try:
        os.kill(pid, signal.SIGINT)
    except (ProcessLookupError, PermissionError):
        pass


def stop_asked(folder, pid: int) -> bool:
    """Whether session `pid` was asked to stop through its folder's stop file (an older session's request is not
    this one's)."""
    try:
        return (Path(folder) / STOP_FILE).read_text(encoding="utf-8").strip() == str(pid)
    except (OSError, UnicodeDecodeError):
        return False


def events(process: subprocess.Popen):
    """The worker's events as dicts, until it exits."""
    for line in process.stdout:
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            yield {"type": ev.LOG, "message": line.rstrip()}
    process.wait()


def unexpected_end(returncode: int, run_dir: Path, reported_error: bool) -> str | None:
    """What to tell the user when a worker ended without saying why (killed, crashed), else None."""
    # bad input is always said in an error event; a worker that could not even read its job says it in its log
    if returncode in (exitcodes.DONE, exitcodes.STOPPED) or (returncode > 0 and reported_error):
        return None
    log = Path(run_dir) / "worker.log"
    if returncode == -signal.SIGKILL:
        return ("the worker process was killed, most often because the Mac ran out of memory. Lower the batch "
                "size or max_seq_length, train fewer layers, or turn on gradient checkpointing; then continue "
                f"with `tailor train --resume {Path(run_dir).name}`. Its log: {log}")
    signum = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0  # 143: SIGTERM, handled
    how = f"by signal {signum}" if signum else f"with exit code {returncode}"
    return f"the worker process ended unexpectedly ({how}). Its log: {log}"
