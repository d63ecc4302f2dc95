"""Starts the processes of a job that trains together through MLX's own launcher (`mlx.launch`, ring backend), and
passes a stop on to every one of them. Run: python -m macapp.group_launcher N JOB.json.

mlx.launch ends with 0 whatever its processes did, and says what they did only in its warnings: they are read here,
so this process ends as the first process did, or says which one failed and how.
"""

import importlib.metadata
import json
import os
import re
import signal
import sys
from pathlib import Path

from . import exitcodes, jobs
from .engine import bundle
from .engine import events as ev

TERMINATED = 128 + signal.SIGTERM
ENDED = re.compile(r"Node with rank (\d+) (?:was (killed)|exited with code (-?\d+))")


def _pass_on(signum, frame) -> None:
    """A stop (or an end) asked of the group reaches each of its processes, which share this one's process group."""
    signal.signal(signum, signal.SIG_IGN)
    os.killpg(os.getpgrp(), signum)


def main(argv=None) -> int:
    processes, job_file = argv or sys.argv[1:]
    os.setpgid(0, 0)  # the processes mlx.launch starts join this group, which a stop is passed on to
    # On the CPU (Linux), processes sharing this computer share its cores: each gets its part for its matrix products,
    # rather than all of them each (twice as slow for 2 processes on 2 cores, measured).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(processes))))
    signal.signal(signal.SIGINT, _pass_on)
    signal.signal(signal.SIGTERM, _pass_on)
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
    sys.argv = ["mlx.launch", "-n", processes, "--backend", "ring", "--", *bundle.worker(job_file)]
    launch()
    # A process the launcher ended because another one ended other than with 0 (the first one's 130 included) ends
    # with SIGTERM's 143, dies of it, or "was killed": none of that is a cause.
    consequences = ("killed", exitcodes.DONE, TERMINATED, -signal.SIGTERM)
    causes = {rank: how for rank, how in ended.items() if rank and how not in consequences}
    if not causes:  # the first process said what happened itself
        how = ended.get(0, exitcodes.DONE)
        return exitcodes.FAILED if how == "killed" else how if how >= 0 else 128 - how
    from .worker import Events

    job = jobs.from_dict(json.loads(Path(job_file).read_text(encoding="utf-8")))
    rank, how = min(causes.items())
    ended_how = f"was killed by signal {-how}" if how < 0 else f"ended with exit code {how}"
    Events(sys.stdout, Path(job.run), job.kind)({
        "type": ev.ERROR, "category": "training",
        "message": f"Process {rank + 1} of the {processes} training together {ended_how}, so the others stopped too.",
        "fix": f"Resume the run: it goes on from its last checkpoint (tailor train --resume {Path(job.run).name})."})
    return exitcodes.FAILED


if __name__ == "__main__":
    sys.exit(main())
