"""Training together: the processes `mlx.launch` starts as one group (mx.distributed), and who speaks for it.

One process alone is a group of one. In a larger group every process trains its share of each step; the first one
(rank 0) alone prepares the data, reports and writes the run's files, and the others wait for it where they must.
"""

import mlx.core as mx


def speaks() -> bool:
    """Whether this process reports and writes a run's files: alone, or the first of a group trained together."""
    return mx.distributed.init().rank() == 0


def silent(event: dict) -> None:
    """The report of a process that does not speak for its group."""


def agreed(*flags: bool) -> list[bool]:
    """Each flag, true for every process of the group when it is true for one of them."""
    group = mx.distributed.init()
    if group.size() == 1:
        return list(flags)
    return [bool(f) for f in mx.distributed.all_sum(mx.array(flags, mx.int32), group=group, stream=mx.cpu).tolist()]


def wait_for_first() -> None:
    """The others wait here until the first process gets here too (after it prepared what they read)."""
    agreed(False)
