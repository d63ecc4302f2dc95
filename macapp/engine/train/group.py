"""Training together: the processes `mlx.launch` starts as one group (mx.distributed), and who speaks for it.

One process alone is a group of one. In a larger group every process trains its share of each step; the first one
(rank 0) alone prepares the data, reports and writes the run's files, and the others wait for it where they must.
"""

import os
import threading
import time

import mlx.core as mx

# How a process ends when its watchdog found the others silent (as timeout(1) ends): its group's launcher then looks
# for the one that stopped answering, rather than count this one as the cause.
SILENT = 124


TIMEOUT = "TAILOR_GROUP_TIMEOUT"  # seconds, when set: the silence that ends a group, exactly (tests shorten it)


def timeout() -> float:
    """Seconds a group may go without hearing from one of its processes (at least)."""
    return float(os.environ.get(TIMEOUT, 120))


def speaks() -> bool:
    """Whether this process reports and writes a run's files: alone, or the first of a group trained together."""
    return mx.distributed.init().rank() == 0


def names() -> list[str]:
    """What to call each process of the group, in their order: the Macs' names when they train on several Macs
    (mlx.launch gives every process TAILOR_GROUP_NAMES), else "process 1", "process 2", ..."""
    size = mx.distributed.init().size()
    given = os.environ.get("TAILOR_GROUP_NAMES", "").split(",")
    return given if len(given) == size else [f"process {rank + 1}" for rank in range(size)]


def silent(event: dict) -> None:
    """The report of a process that does not speak for its group."""


def agreed(*flags: bool) -> list[bool]:
    """Each flag, true for every process of the group when it is true for one of them."""
    group = mx.distributed.init()
    if group.size() == 1:
        return list(flags)
    return [bool(f) for f in mx.distributed.all_sum(mx.array(flags, mx.int32), group=group, stream=mx.cpu).tolist()]


def gathered(values: list[float]) -> list[list[float]]:
    """Every process's `values`, in the order of the processes (the same list in each of them)."""
    group = mx.distributed.init()
    if group.size() == 1:
        return [list(values)]
    return mx.distributed.all_gather(mx.array([values], mx.float32), group=group, stream=mx.cpu).tolist()


def wait_for_first() -> None:
    """The others wait here until the first process gets here too (after it prepared what they read)."""
    agreed(False)


class Watchdog:
    """Ends a process of a group that stopped hearing from the others, rather than let it wait forever: MLX's ring
    gives its collective calls no timeout, and a Mac that freezes or leaves the network never answers them.

    `tick()` at every step and around every validation; after the first two, a gap longer than `least` seconds and
    than `times` the longest gap so far (none when TAILOR_GROUP_TIMEOUT sets the silence) counts as silence:
    `on_silence(seconds)` is called, then the process ends with SILENT.
    """

    def __init__(self, on_silence, least: float | None = None, times: float = 20.0):
        self.on_silence, self.times = on_silence, 0.0 if TIMEOUT in os.environ else times
        self.least = least if least is not None else timeout()
        self.last, self.longest, self.ticks = time.monotonic(), 0.0, 0
        self.stopped = threading.Event()
        threading.Thread(target=self._watch, daemon=True, name="group watchdog").start()

    def tick(self) -> None:
        now = time.monotonic()
        if self.ticks >= 2:  # the first steps compile: not a measure of a step
            self.longest = max(self.longest, now - self.last)
        self.last, self.ticks = now, self.ticks + 1

    def stop(self) -> None:
        """The group's work is over: nothing more to wait for."""
        self.stopped.set()

    def _watch(self) -> None:
        while not self.stopped.wait(1.0):
            waited = time.monotonic() - self.last
            if self.ticks >= 2 and waited > max(self.least, self.times * self.longest):
                self.on_silence(waited)
                os._exit(SILENT)
