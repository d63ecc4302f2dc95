"""Starts the processes of a job that trains together through MLX's own launcher (`mlx.launch`): N processes on this
computer (ring over 127.0.0.1), or one on each Mac of `hosts`. Run: python -m macapp.group_launcher JOB.json.

mlx.launch ends with 0 whatever its processes did, and says what they did only in its warnings: they are read here,
so this process ends as the first process did, or says which one failed and how. A stop reaches this computer's
processes; the first one agrees it with the others.
"""

import importlib.metadata
import json
import os
import re
import signal
import sys
from pathlib import Path

import psutil

from . import exitcodes, jobs
from .engine import bundle, runs
from .engine import events as ev

TERMINATED = 128 + signal.SIGTERM
SSH_LOST = 255  # ssh's own exit code: the connection to another Mac broke, or that Mac's process was killed
ENDED = re.compile(r"Node with rank (\d+) (?:was (killed)|exited with code (-?\d+))")


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


def _launch(arguments: list[str], command: list[str]) -> dict:
    """Run mlx.launch; how each process ended, by rank ("killed", or its exit code)."""
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="mlx.launch")
    launch = entry.load()
    module = sys.modules[launch.__module__]
    ended = {}
    warn = module.log_warning

    def noted(*args, **kwargs):
        if found := ENDED.search(" ".join(map(str, args))):
            ended[int(found[1])] = "killed" if found[2] else int(found[3])
        warn(*args, **kwargs)

    module.log_warning = noted
    sys.argv = ["mlx.launch", *arguments, "--", *command]
    launch()
    return ended


def main(argv=None) -> int:
    (job_file,) = argv or sys.argv[1:]
    job = jobs.from_dict(json.loads(Path(job_file).read_text(encoding="utf-8")))
    run_dir = Path(job.run)
    from .worker import Events, failure

    emit = Events(sys.stdout, run_dir, job.kind)
    if os.getpgrp() != os.getpid():  # (started by the window, it leads a session of its own already)
        os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the CLI, which passes it on here
    if job.hosts:
        from .group_ready import ready

        try:
            with runs.hold(run_dir):  # no other start of the run while it is made ready (its worker holds it next)
                if job.resume:
                    runs.check_resumable(run_dir)
                arguments, names = ready(job, emit)
        except KeyboardInterrupt:  # stopped while the Macs were checked or given their files: nothing was trained
            emit({"type": ev.DONE, "result": {"stopped": True}, "stopped": True, "pid": os.getpid()})
            return exitcodes.STOPPED
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
    ended = _launch(arguments, command)
    # A process the launcher ended because another one ended other than with 0 (the first one's 130 included) ends
    # with SIGTERM's 143, dies of it, or "was killed": none of that is a cause.
    consequences = ("killed", exitcodes.DONE, TERMINATED, -signal.SIGTERM)
    causes = {rank: how for rank, how in ended.items() if rank and how not in consequences}
    if not causes:  # the first process said what happened itself
        how = ended.get(0, exitcodes.DONE)
        return exitcodes.FAILED if how == "killed" else how if how >= 0 else 128 - how
    rank, how = min(causes.items())
    ended_how = (f"was killed by signal {-how}" if how < 0 else "ended or lost its connection to this Mac (it may "
                 "have run out of memory, gone to sleep or left the network)" if job.hosts and how == SSH_LOST
                 else f"ended with exit code {how}")
    emit({"type": ev.ERROR, "category": "training", "pid": os.getpid(),
          "message": f"{who[rank]} {ended_how}, so the others stopped too.",
          "fix": f"Resume the run: it goes on from its last checkpoint ({resume})."})
    return exitcodes.FAILED


if __name__ == "__main__":
    sys.exit(main())
