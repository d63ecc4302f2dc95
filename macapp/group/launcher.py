"""Starts the processes of a job that trains together through MLX's own launcher (`mlx.launch`): N processes on this
computer (ring over 127.0.0.1), or one on each Mac of `hosts`. Run: python -m macapp.group.launcher JOB.json.

mlx.launch ends with 0 whatever its processes did, and says what they did only in its warnings: they are read here,
so this process ends as the first process did, or says which one failed, stopped answering or was killed, and how to
resume. A stop reaches this computer's processes; the first one agrees it with the others. Started by a command in a
terminal, the group stops with that command however it ends.
"""

import contextlib
import importlib.metadata
import json
import os
import re
import select
import signal
import sys
import threading
import time
from pathlib import Path

import psutil

from .. import exitcodes, jobs
from ..engine import bundle
from ..engine.runs import events as ev
from ..engine.runs import runs
from ..engine.train import group

TERMINATED = 128 + signal.SIGTERM
SSH_LOST = 255  # ssh's own exit code: the connection to another Mac broke, or that Mac's process was killed
ENDED = re.compile(r"Node with rank (\d+) (?:was (killed)|exited with code (-?\d+)|(completed))")
# A process the launcher ended because another one ended other than with 0 (the first one's 130 included) ends with
# SIGTERM's 143, dies of it, or "was killed"; one that heard nothing from the others ends SILENT: none is a cause.
CONSEQUENCES = ("killed", exitcodes.DONE, TERMINATED, -signal.SIGTERM, group.SILENT)
SAID = (exitcodes.DONE, exitcodes.FAILED, exitcodes.BAD_INPUT, exitcodes.STOPPED)  # the first process says these
GRACE = 10.0  # seconds a process of a group that ends has to end on mlx.launch's SIGTERM; after, it is not answering


class Group:
    """The processes mlx.launch started, as the launcher follows them: each one's own process (the worker here, or the
    ssh that reaches it on another Mac), how each ended by rank ("killed", or its exit code), and those that no longer
    answered when the group ended."""

    def __init__(self):
        self.processes, self.ended, self.frozen = {}, {}, set()
        self.ending, self.over = threading.Event(), threading.Event()

    def end(self, rank: int, how) -> None:
        self.ended[rank] = how
        if how != exitcodes.DONE:  # mlx.launch now ends the others, and waits for each
            self.ending.set()

    def end_all(self) -> None:
        """End at once whatever still runs under the launcher (SIGKILL ends even a stopped process)."""
        for process in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                process.kill()

    def end_the_silent(self) -> None:
        """mlx.launch waits for each process it ends, and one that does not answer (a Mac that froze, a stopped
        process) would keep it waiting forever: GRACE seconds after the group began to end, those that have not
        ended are named and ended, with anything else still running (mlx.launch's ssh to a Mac that no longer
        answers), until mlx.launch returns."""
        self.ending.wait()
        if self.over.wait(GRACE):
            return
        self.frozen = {rank for rank in self.processes if rank not in self.ended}
        while not self.over.wait(1.0):
            self.end_all()


def _through_ssh(process: psutil.Process) -> bool:
    try:
        return any(Path(part).name == "ssh" for part in process.cmdline()[:2])
    except psutil.Error:
        return False


def _workers() -> list[psutil.Process]:
    """This computer's worker processes of the group; not one reached through SSH (another Mac's), whose connection
    a signal would cut: the first process passes a stop on to those."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            command, lineage = process.cmdline(), process.parents()
        except psutil.Error:
            continue
        if ("macapp.worker" in command or bundle.WORKER_FLAG in command) and not any(map(_through_ssh, lineage)):
            found.append(process)
    return found


def _pass_on(signum, frame) -> None:
    """A stop (or an end) asked of the group reaches each of this computer's processes."""
    for process in _workers():
        try:
            process.send_signal(signum)
        except psutil.Error:
            pass


def _relay(source: int, out, parent: int, followed: Group) -> None:
    """Carry the group's events on to `out`, the command that started the launcher (`parent`, in a terminal), until
    the launcher ends. Once that command has gone (killed, or its terminal closed), nobody follows or stops the group
    any more: it is stopped, saving what it can, and ended if it has not stopped within the group's timeout; what it
    writes then goes nowhere."""
    gone = None
    while True:
        data = os.read(source, 1 << 16) if select.select([source], [], [], 1.0)[0] else None
        if data == b"":  # the launcher is ending
            return
        if gone is None:
            try:
                out.write(data or b"")
                out.flush()
                lost = os.getppid() != parent
            except OSError:  # the pipe to it is closed
                lost = True
            if lost:  # a stop, as from Ctrl-C: of the launcher while the Macs are made ready, else of the group
                gone = time.monotonic()
                os.kill(os.getpid(), signal.SIGINT)
        elif time.monotonic() - gone < group.timeout():
            _pass_on(signal.SIGINT, None)  # again: a process that was starting then has its handler now
        else:
            followed.end_all()


def _launch(arguments: list[str], command: list[str], followed: Group) -> None:
    """Run mlx.launch, noting each process it starts and how each ended."""
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="mlx.launch")
    launch = entry.load()
    module = sys.modules[launch.__module__]
    warn, log, started = module.log_warning, module.log, module.RemoteProcess

    class Followed(started):
        def __init__(self, rank, *args, **kwargs):
            # Each process starts with SIGINT held, as a worker does: a stop while it starts waits for its handler.
            # Held only while it starts: the launcher's own thread must hear the stops it passes on.
            held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                super().__init__(rank, *args, **kwargs)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
            followed.processes[rank] = self.process

    def noted(said, *args, **kwargs):
        if found := ENDED.search(" ".join(map(str, args))):
            followed.end(int(found[1]), "killed" if found[2] else int(found[3] or exitcodes.DONE))
        said(*args, **kwargs)

    module.log_warning = lambda *args, **kwargs: noted(warn, *args, **kwargs)
    module.log = lambda verbose, *args, **kwargs: noted(lambda *a, **k: log(verbose, *a, **k), *args, **kwargs)
    module.RemoteProcess = Followed
    sys.argv = ["mlx.launch", *arguments, "--", *command]
    threading.Thread(target=followed.end_the_silent, daemon=True, name="ends the silent").start()
    try:
        launch()
    finally:
        followed.over.set()


@contextlib.contextmanager
def _following_parent(followed: Group):
    """Started from a terminal (not by the window, whose launcher leads a session of its own and outlives it), the
    group's events go through a pipe of the launcher's own, carried on by _relay, which notices that command's end;
    the last of them reach it before the launcher ends."""
    if os.getsid(0) == os.getpid():
        yield
        return
    source, sink = os.pipe()
    out = open(os.dup(1), "wb")
    relay = threading.Thread(target=_relay, args=(source, out, os.getppid(), followed), daemon=True, name="relay")
    relay.start()
    os.dup2(sink, 1)
    os.close(sink)
    try:
        yield
    finally:
        sys.stdout.flush()
        with open(os.devnull, "wb") as nowhere:
            os.dup2(nowhere.fileno(), 1)  # the pipe's last writer closes: the relay carries what is left, and ends
        relay.join(GRACE)


def main(argv=None) -> int:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # held while it started (jobs.start)
    (job_file,) = argv or sys.argv[1:]
    job = jobs.from_dict(json.loads(Path(job_file).read_text(encoding="utf-8")))
    followed = Group()
    with _following_parent(followed):
        if os.getpgrp() != os.getpid():  # (started by the window, it leads a session of its own already)
            os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the CLI, which passes it on here
        try:
            return _train(job, job_file, followed)
        except KeyboardInterrupt:  # a stop before the group began (the Macs checked or given their files; it passes
            # stops on from then): nothing was trained
            from ..worker import Events

            Events(sys.stdout, Path(job.run), job.kind)({"type": ev.DONE, "result": {"stopped": True},
                                                          "stopped": True, "pid": os.getpid()})
            return exitcodes.STOPPED


def _train(job: jobs.TrainJob, job_file: str, followed: Group) -> int:
    """Make the group ready (on other Macs: checked and given their files), run it, and say how it ended."""
    run_dir = Path(job.run)
    from ..worker import Events, failure

    emit = Events(sys.stdout, run_dir, job.kind)
    if job.hosts:
        from .ready import ready

        try:
            with runs.hold(run_dir):  # no other start of the run while it is made ready (its worker holds it next)
                if job.resume:
                    runs.check_resumable(run_dir)
                arguments, names = ready(job, emit)  # a stop meanwhile ends the launcher in main(): nothing trained
        except Exception as error:  # said as a worker says it, before any process starts
            event, code = failure(error, run_dir)
            emit({"type": ev.ERROR, **event, "pid": os.getpid()})
            return code
        command = bundle.worker("--group", run_dir.name)
        who = [f"The process on {name}" for name in names]
        resume = f"tailor train --resume {run_dir.name} --hosts {job.hosts.get('given') or ','.join(names[1:])}"
    else:
        # On the CPU (Linux), processes sharing this computer share its cores: each gets its part for its matrix
        # products, rather than all of them each (twice as slow for 2 processes on 2 cores, measured).
        os.environ.setdefault("OPENBLAS_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // job.processes)))
        arguments, command = ["-n", str(job.processes), "--backend", "ring"], bundle.worker(job_file)
        who = [f"Process {rank + 1} of the {job.processes} training together" for rank in range(job.processes)]
        resume = f"tailor train --resume {run_dir.name} --processes {job.processes}"
    signal.signal(signal.SIGINT, _pass_on)
    signal.signal(signal.SIGTERM, _pass_on)
    os.environ[jobs.LEADER] = str(os.getpid())  # the first process says it is this one, which a stop goes to
    _launch(arguments, command, followed)
    code, said = _outcome(followed, who, bool(job.hosts))
    if said:
        emit({"type": ev.ERROR, "category": "training", "pid": os.getpid(), "message": said,
              "fix": f"Resume the run: it goes on from its last checkpoint ({resume})."})
    return code


def _outcome(followed: Group, who: list[str], hosts: bool) -> tuple[int, str | None]:
    """How the group ended (the launcher's exit code), and what to tell when the first process has not said it."""
    first = followed.ended.get(0, exitcodes.DONE)
    causes = {rank: how for rank, how in followed.ended.items()
              if how not in CONSEQUENCES and not (rank == 0 and how in SAID)}
    if followed.frozen:
        rank = min(followed.frozen)
        ended_how = ("stopped answering (its Mac may have frozen, gone to sleep or left the network)" if hosts else
                     "stopped answering (it was paused, or stuck)")
    elif causes:
        rank, how = min(causes.items())
        ended_how = (f"was killed by signal {-how}" if how < 0 else "ended or lost its connection to this Mac (it may "
                     "have run out of memory, gone to sleep or left the network)" if hosts and how == SSH_LOST
                     else f"ended with exit code {how}")
    else:  # the first process said what happened itself
        return (exitcodes.FAILED if first in ("killed", group.SILENT) else first if first >= 0 else 128 - first), None
    return exitcodes.FAILED, f"{who[rank]} {ended_how}, so the others stopped too."


if __name__ == "__main__":
    sys.exit(main())
