"""The worker process: runs one job (check, inspect, download, train, answer, evaluate, check an export, fuse, gguf,
serve).

`python -m macapp.worker JOB.json`. Events go to stdout and to the job folder's events.jsonl (a run
folder for runs); anything else printed goes to stderr. A stop request (jobs.ask_to_stop: a file, and SIGINT to wake
it) asks a job to stop; it says `stopping`, saves and reports. SIGTERM ends it at once, but through its clean-up:
scratch folders, a server it started, keeping awake.
"""

import json
import os
import signal
import sys
import threading
import time
import traceback
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from . import exitcodes, jobs
from .engine import disk
from .engine.errors import InputError, RunFailed, Stopped
from .engine.runs import events as ev
from .engine.runs import runs
from .engine.train import group
from .group import agent
from .jobs import Job


class Events:
    """Writes each event to the event stream and appends it to the run's events.jsonl."""

    def __init__(self, stream, run_dir: Path, kind: str):
        self.stream, self.run_dir, self.kind = stream, run_dir, kind
        self.lock = threading.Lock()

    def __call__(self, event: dict) -> None:
        event = {**event, "kind": self.kind, "time": round(time.time(), 3)}
        with self.lock:
            try:
                self.stream.write(json.dumps(event, default=str) + "\n")
                self.stream.flush()
            except (BrokenPipeError, ValueError):  # the command reading it is gone: the run's file keeps every event
                self.stream = open(os.devnull, "w", encoding="utf-8")
            try:
                runs.append_event(self.run_dir, event)
            except OSError as error:  # a full disk: the stream still carries the event, and the job says why
                if not disk.is_full(error):
                    raise


def _check(job, run_dir, emit, should_stop):
    from dataclasses import asdict

    from .engine.check import environment, mlx_device

    return {"checks": [asdict(c) for c in environment.run_checks()], "memory_limit": mlx_device.machine_limit(),
            "gpu": mlx_device.trains_on_gpu()}


def _hosts(job, run_dir, emit, should_stop):
    from .group import hosts

    macs = hosts.check(job.hosts, agent.facts({}), {})
    return {"macs": [{"name": mac.name, "problems": mac.problems,
                      "memory_gb": mac.facts["memory_total"] / 1e9 if mac.facts else None} for mac in macs]}


def _inspect(job, run_dir, emit, should_stop):
    from .engine.data import datasets
    from .engine.data.formats import Mapping
    from .engine.models import loading, obtain

    tokenizer = loading.load(obtain.resolve(job.model, emit, should_stop))[1] if job.model else None
    emit({"type": ev.LOG, "message": "Reading every example"})
    mapping = Mapping.from_dict(job.mapping)
    report = datasets.inspect(job.sources, mapping, tokenizer, job.max_seq_length, job.batch_size, job.skip_broken)
    return {"report": report.to_dict(), "must_fix": report.must_fix,
            "preview": datasets.preview(job.sources, mapping)}


def _download(job, run_dir, emit, should_stop):
    from .engine.models import downloads

    return {"path": str(downloads.fetch(job.model, emit, should_stop))}


def _synth(job, run_dir, emit, should_stop):
    from .engine.data import datasets, synthesis
    from .engine.data.recipe import Recipe

    result = synthesis.make(run_dir, Recipe.from_dict(job.recipe), emit, should_stop)
    if job.split and not result["stopped"]:  # too few made to keep some apart: all of them trained on, as said
        report = datasets.inspect([result["dataset"]]).to_dict()
        ratios = datasets.DEFAULT_RATIOS if datasets.can_split(report) else datasets.NO_SPLIT
        result["manifest"] = datasets.prepare([result["dataset"]], run_dir, ratios)
    return result


def _train(job, run_dir, emit, should_stop):
    from .engine.check import awake, mlx_device
    from .engine.train import training

    mlx_device.cap_training()  # a run that outgrows what this Mac can give stops, resumable, instead of swapping
    with awake.kept_awake(emit):  # from preparing the data to the last save
        return training.train_run(run_dir, emit, should_stop, job.resume)


def _tuned_model(job, emit, should_stop):
    """The run's model with the chosen adapter (job.checkpoint: "last" or "best")."""
    from .engine.evaluate import generation

    return generation.TunedModel(*runs.model_and_adapter(job.source, job.checkpoint), emit, should_stop)


def _answer(job, run_dir, emit, should_stop):
    """Stream the answers of the sides asked for (base, tuned or both) to one chat, token by token."""
    from .engine.evaluate.sampling import Sampling

    sampling = Sampling.from_dict(job.sampling)
    tuned = _tuned_model(job, emit, should_stop)
    answers = {side: "" for side in job.sides}
    emit({"type": ev.LOG, "message": "Answering"})
    for side, text, finish in tuned.side_by_side(job.messages, sampling, job.system, tuple(answers)):
        if should_stop():
            return {"answers": answers, "stopped": True}
        answers[side] += text
        emit({"type": ev.TOKEN, "side": side, "text": text, "finish": finish})
    return {"answers": {side: text.strip() for side, text in answers.items()}, "stopped": False}


def _evaluate(job, run_dir, emit, should_stop):
    from .engine.evaluate import evaluation
    from .engine.evaluate.general_scores import GeneralCheck
    from .engine.evaluate.judge_choice import Judge
    from .engine.evaluate.sampling import Sampling
    from .engine.evaluate.scores import Check

    check = Check(**job.check) if job.check else None
    judge = Judge.from_dict(job.judge) if job.judge else None
    result = evaluation.evaluate_run(Path(job.source), job.prompts, job.checkpoint, Sampling.from_dict(job.sampling),
                                     check, job.system, job.limit, judge, GeneralCheck.from_dict(job.general),
                                     emit, should_stop)
    if result is None:
        return {"stopped": True}
    return {"summary": result["summary"], "check": result["check"], "general": result.get("general"),
            "report": result["report"], "stopped": False}


def _check_export(job, run_dir, emit, should_stop):
    from .engine.evaluate import export_check
    from .engine.evaluate.sampling import Sampling

    result = export_check.check_gguf(Path(job.source), job.gguf, job.checkpoint, Sampling.from_dict(job.sampling),
                                     job.limit, emit, should_stop)
    return {"stopped": True} if result is None else {**result, "stopped": False}


def _fuse(job, run_dir, emit, should_stop):
    from .engine.export import fusing

    out = fusing.fuse(job.model, job.adapter, job.out, job.dequantize, job.bits, job.overwrite, emit, should_stop)
    return {"path": str(out)}


def _gguf(job, run_dir, emit, should_stop):
    """Fuse into a scratch folder, write the GGUF with its Modelfile, measured against the fused model by
    llama.cpp, and create the Ollama model when asked and Ollama is there."""
    import shutil

    from .engine.export import export, fusing, gguf, gguf_tools, ollama
    from .engine.models import models, obtain

    out = Path(job.out)
    base = obtain.resolve(job.model, emit, should_stop)
    outtype = job.outtype or gguf_tools.default_type(models.read_config(base))
    fused_size = export.fused_bytes(base, export.quantization_bits(base) is not None, 0)
    # Room for the fused copy and the GGUF, before minutes of fusing.
    export.check_target(out, fused_size + gguf_tools.gguf_bytes(base, outtype), job.overwrite)
    work = out.parent / f".{out.name}-fused"
    try:
        fused = fusing.fuse(job.model, job.adapter, work, None, 0, True, emit, should_stop)
        name = f"{base.name} tuned by Tailor" + (f" ({job.run_name})" if job.run_name else "")
        result = gguf.export(fused, out, outtype, job.data, job.verify, job.system, job.run_name, job.converter,
                             job.overwrite, name, emit, should_stop)
        if job.ollama_name:
            result["ollama"] = ollama.create(job.ollama_name, Path(result["modelfile"]), gguf.TRY_PROMPT,
                                             report=emit)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _ollama(job, run_dir, emit, should_stop):
    """Put the tuned model into Ollama: from the fused safetensors folder where Ollama converts that architecture
    itself (quantized by its own --quantize), otherwise through a GGUF of the same type, measured by llama.cpp."""
    from .engine.export import export, fusing, gguf, gguf_tools, ollama
    from .engine.models import loading, models, obtain

    name, quantize = ollama.check_name(job.name), job.quantize
    base = obtain.resolve(job.model, emit, should_stop)
    config = models.read_config(base)
    if not ollama.imports(config):
        architecture = ", ".join(config.get("architectures") or ["unknown"])
        if gguf_tools.missing_tools():
            raise export.ExportError(f"Ollama cannot read this model's architecture ({architecture}) from its "
                                     f"folder, so Tailor makes a GGUF for it first. {gguf_tools.INSTALL_HINT}")
        emit({"type": ev.LOG, "message": f"Ollama cannot read {architecture} models from their folder: making a "
                                        "GGUF for it first"})
        gguf_job = replace(job, outtype=ollama.QUANTIZE.get(quantize), ollama_name=name)
        return {**_gguf(gguf_job, run_dir, emit, should_stop), "route": "gguf"}
    fused = fusing.fuse(job.model, job.adapter, job.out, True, 0, job.overwrite, emit, should_stop)
    tokenizer = loading.load_tokenizer(fused)
    modelfile = ollama.write_modelfile(fused, fused, tokenizer, job.system, job.run_name)
    return {"route": "safetensors", "path": str(fused), "modelfile": str(modelfile),
            "template": ollama.template(tokenizer)[2],
            "ollama": ollama.create(name, modelfile, gguf.TRY_PROMPT, quantize, emit)}


def _upload(job, run_dir, emit, should_stop):
    """Fuse the standalone model first when asked and it is not there yet, then upload it or the adapter with the
    model card written from the run."""
    from .engine.export import fusing, hub, model_card
    from .engine.models import hub_token

    token = hub_token.get()  # HF_TOKEN from the environment first, so it is never written into the job file
    folder = Path(job.folder)
    fuse = job.model is not None and not (folder / "config.json").exists()
    hub.check(folder, job.repo, token, fused_first=fuse)  # before minutes of fusing
    if fuse:
        fusing.fuse(job.model, job.adapter, folder, None, 0, False, emit, should_stop)
    extra = model_card.files(job.source, folder, job.repo) if job.source else {}
    return hub.upload(folder, job.repo, token, job.private, extra, emit, should_stop)


def _install_export(job, run_dir, emit, should_stop):
    from .engine.export import gguf_tools

    return gguf_tools.install(emit, should_stop)


def _serve(job, run_dir, emit, should_stop):
    from .engine.export import serve
    from .engine.models import obtain

    model = obtain.resolve(job.model, emit, should_stop)
    server = serve.Server(model, job.adapter, job.host, job.port, job.allow_remote, run_dir / "server.log")
    try:  # from the start: a worker ended while the model loads takes the server along
        url = server.start(should_stop=should_stop)
        emit({"type": ev.READY, "url": url, "name": server.name, **serve.examples(url, server.name, server.api_key)})
        while not should_stop() and server.process.poll() is None:
            time.sleep(0.2)
    finally:
        server.stop()
    return {"url": url, "stopped": False}


JOBS = {"check": _check, "hosts": _hosts, "inspect": _inspect, "download": _download, "synth": _synth, "train": _train,
        "answer": _answer, "evaluate": _evaluate, "check_export": _check_export, "fuse": _fuse, "gguf": _gguf,
        "ollama": _ollama, "serve": _serve, "install_export": _install_export, "upload": _upload}


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the job's `finally` blocks, unlike the default action


class StopRequest:
    """The job's `should_stop()`: true once a SIGINT came, the job folder's stop file names this session, or the
    command that started this worker is gone (killed in its terminal). Those are looked at a few times a second at
    most, and the first time one is seen the worker says `stopping`."""

    LOOK_EVERY = 0.25  # seconds

    def __init__(self, folder: Path):
        # A list that the SIGINT handler appends to: a second SIGINT can arrive while the handler of the first runs,
        # and a handler that takes a lock (threading.Event.set) would then wait for itself forever.
        self.folder, self.signals, self.asked, self.next_look = folder, [], False, 0.0
        self.emit = lambda event: None
        # The window's workers outlive it (started without a command); a group's, their launcher watches.
        command = os.environ.get(jobs.COMMAND) if jobs.LEADER not in os.environ else None
        self.command = int(command) if command and command.isdigit() else None

    def on_signal(self, *_) -> None:
        self.signals.append(signal.SIGINT)

    def __call__(self) -> bool:
        if not self.asked and (self.signals or time.monotonic() >= self.next_look):
            self.next_look = time.monotonic() + self.LOOK_EVERY
            self.asked = (bool(self.signals) or jobs.stop_asked(self.folder, jobs.session_pid())
                          or (self.command is not None and os.getppid() != self.command))
            if self.asked:
                self.emit({"type": ev.STOPPING})
        return self.asked


def run(job: Job, events_stream) -> int:
    run_dir = Path(job.run)
    first = job.kind != "train" or group.speaks()  # of the processes mlx.launch started to train together
    emit = Events(events_stream, run_dir, job.kind) if first else group.silent
    should_stop = StopRequest(run_dir)
    signal.signal(signal.SIGINT, should_stop.on_signal)
    signal.signal(signal.SIGTERM, _terminate)
    # jobs.start holds SIGINT while the worker starts: one that came meanwhile reaches the handler now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        with ExitStack() as claims:
            if job.kind == "train" and first:  # one worker (or group) per run; a finished run is not trained again
                claims.enter_context(runs.hold(run_dir))
                if job.resume:
                    runs.check_resumable(run_dir)
            if job.kind == "synth":
                claims.enter_context(runs.hold(run_dir, "is being filled with examples", noun=""))
            code = _run(job, run_dir, emit, should_stop)
            # mlx.launch ends the whole group when one of its processes ends other than with 0: the others' stop,
            # the same as the first one's, must not cut the first one short while it saves.
            return exitcodes.DONE if code == exitcodes.STOPPED and not first else code
    except runs.RunRefused as error:
        emit({"type": ev.ERROR, "category": ev.REFUSED, "pid": jobs.session_pid(), "message": str(error)})
        return exitcodes.BAD_INPUT


def _run(job: Job, run_dir: Path, emit, should_stop) -> int:
    """One session of the job: `started`, then its result as `done`, or what went wrong as `error`."""
    emit({"type": ev.STARTED, "pid": jobs.session_pid()})
    should_stop.emit = emit  # `stopping` comes after `started`, as the session's own
    try:
        # Asked while the worker started: nothing was begun, so nothing needs saving. (In a group, the processes stop
        # together, at a step they agree on.)
        if jobs.LEADER not in os.environ and should_stop():
            raise Stopped
        result = JOBS[job.kind](job, run_dir, emit, should_stop)
    except Exception as error:
        # A tool a stop interrupted (Ctrl-C reaches llama.cpp's converter too) fails as if given bad input: that is
        # the stop. Any other failure, a full disk while saving at the stop included, is said as it is.
        if isinstance(error, Stopped) or (should_stop() and isinstance(error, InputError)):
            emit({"type": ev.DONE, "result": {"stopped": True}, "stopped": True})
            return exitcodes.STOPPED
        event, code = failure(error, run_dir)
        emit({"type": ev.ERROR, **event})
        return code
    emit({"type": ev.DONE, "result": result, "stopped": bool(result.get("stopped"))})
    return exitcodes.STOPPED if result.get("stopped") else exitcodes.DONE


def failure(error: Exception, run_dir: Path) -> tuple[dict, int]:
    """The error event of a job that could not go on, and its exit code."""
    if isinstance(error, InputError):  # some say what to do apart (the Macs that cannot train together)
        fix = {"fix": error.fix} if getattr(error, "fix", None) else {}
        return {"category": "input", "message": str(error),
                "problems": [str(p) for p in getattr(error, "problems", [])], **fix}, exitcodes.BAD_INPUT
    if isinstance(error, RunFailed):
        return {"category": "training", "message": str(error), "fix": error.fix}, exitcodes.FAILED
    if isinstance(error, MemoryError):
        return {"category": "memory", "message": "Out of memory.",
                "fix": "Lower the batch size or max_seq_length, or train fewer layers."}, exitcodes.FAILED
    if isinstance(error, RuntimeError) and str(error).startswith("[ring]"):  # MLX's, for processes training together
        return {"category": "training", "message": f"Training together stopped: the processes lost their connection "
                                                   f"({error}).",
                "fix": f"Resume the run: it goes on from its last checkpoint (tailor train --resume {run_dir.name})."
                }, exitcodes.FAILED
    if said := disk.message(error, run_dir):
        return {"category": "disk", "message": said}, exitcodes.FAILED
    return {"category": "failure", "message": f"{type(error).__name__}: {error}",  # reported in full
            "details": "".join(traceback.format_exception(error))}, exitcodes.FAILED


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "--group":  # a run trained on several Macs: this Mac's copy of its job
        argv = [str(agent.run_copy(argv[1]) / "job-train.json")]
    if len(argv) != 1:
        print("usage: python -m macapp.worker JOB.json | --group RUN", file=sys.stderr)
        return exitcodes.BAD_INPUT
    try:
        job = jobs.from_dict(json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    except (OSError, ValueError, InputError) as error:
        print(f"{argv[0]}: {error}", file=sys.stderr)
        return exitcodes.BAD_INPUT
    # transformers imports PyTorch whenever it is installed (the GGUF converter needs it, in a process of its own):
    # seconds of start-up and hundreds of MB no job here uses. Marked absent, transformers goes on without it.
    sys.modules.setdefault("torch", None)
    # stdout carries events only: keep a private copy of it, and send fd 1 (prints, C libraries) to stderr.
    events_stream = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        return run(job, events_stream)
    finally:
        # Ignored from here: Python's exit would put back the default action, and a late Ctrl-C would then end a job
        # that has already said how it ended as if killed.
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
