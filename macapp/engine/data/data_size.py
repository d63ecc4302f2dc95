"""Settings that suit how many examples a person has, and plain warnings when the data is too small for them.

A preset names how thorough a run is; for a small dataset it is counted in passes over the examples (epochs),
since a fixed number of steps goes over 40 examples so many times that the model only learns to repeat them.
"""

import math

from .. import words
from ..errors import InputError
from .datasets import report_split

FEW = 100  # fewer training examples than this get their own settings and a word of warning
SMALL_BATCH = 2  # the batch for few examples: more, smaller steps per pass
MIN_STEPS = 20
TOO_MANY_PASSES = 10  # beyond about this many passes a small model repeats its examples word for word


def split_sizes(report: dict | None, ratios, repeats: str = "drop") -> tuple[int, int]:
    """(training, validation) examples of checked data (its inspection report, as a dict) once split by `ratios`,
    or as the data splits itself, repeats dealt with as `repeats` says; (0, 0) before it is checked or when it is
    too small to split."""
    if not report or not report["count"]:
        return 0, 0
    try:
        train, valid, _ = report_split(report, ratios, repeats)
    except InputError:
        return 0, 0
    return train, valid


def passes(train_count: int, batch_size: int, iters: int) -> float:
    return iters * batch_size / max(train_count, 1)


def suited(train_count: int, settings: dict, epochs: float) -> dict:
    """The preset's settings, with steps (and, for few examples, the batch) set for `epochs` passes; never more
    steps than the preset's own."""
    if train_count <= 0 or train_count >= FEW * 10:
        return settings
    batch = min(settings["batch_size"], SMALL_BATCH, train_count) if train_count < FEW else settings["batch_size"]
    most = max(1, TOO_MANY_PASSES * train_count // batch)  # never past the passes its own warning is about
    iters = min(settings["iters"], most, max(MIN_STEPS, math.ceil(epochs * train_count / batch)))
    every = max(5, iters // 8)
    return {**settings, "batch_size": batch, "iters": iters, "steps_per_eval": every, "save_every": every}


def warnings(train_count: int, valid_count: int, batch_size: int, iters: int) -> list[str]:
    """What to tell a person before training on this many examples with these settings, in plain words."""
    said = []
    if 0 < train_count < FEW:
        said.append(f"Only {words.count(train_count, 'training example')}: the model learns their style, not much "
                    "more. 100 or more work better.")
    if valid_count == 0:
        said.append("No examples are kept apart to check training, so there is no validation curve, best adapter or "
                    "early stop. Give \u201cChecked while training\u201d a share in the Data step.")
    elif valid_count < 5:
        said.append(f"Only {words.count(valid_count, 'example')} {'is' if valid_count == 1 else 'are'} kept apart "
                    "to check training: its curve will jump about.")
    times = passes(train_count, batch_size, iters)
    if train_count and times > TOO_MANY_PASSES:
        said.append(f"These settings go over your examples about {times:.0f} times; beyond about "
                    f"{TOO_MANY_PASSES} the model starts to repeat them word for word. Use fewer steps.")
    return said
