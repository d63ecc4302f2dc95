"""Packing: several short examples in one row of a batch, each seeing only its own tokens.

`first_fit` decides which examples share a row; `RowMask` stands in for mlx-lm's KV cache during training, the one
hook every mlx-lm model asks for its attention mask, and gives the block-diagonal causal mask of the row's examples.
Positions run on across a row: rotary embeddings depend only on the distance between two tokens, never across
examples here, so each example's attention is the same as in a row of its own.
"""

import mlx.core as mx


def first_fit(sizes: list[int], width: int) -> list[list[int]]:
    """Rows of example indices, longest first, each example in the first row with room for it."""
    rows, room = [], []
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        row = next((r for r, free in enumerate(room) if free >= sizes[index]), None)
        if row is None:
            rows.append([])
            room.append(width)
            row = len(rows) - 1
        rows[row].append(index)
        room[row] -= sizes[index]
    return rows


class RowMask:
    """The cache a model is given for a packed batch: it keeps nothing, and masks each example off from the others.

    Padding (segment 0) attends only to padding, so no row of the mask is empty.
    """

    offset = 0

    def __init__(self, segments: mx.array):
        self.segments = segments

    def update_and_fetch(self, keys, values):
        return keys, values

    def make_mask(self, length: int, return_array: bool = False, window_size: int | None = None):
        position = mx.arange(length)
        mask = (self.segments[:, :, None] == self.segments[:, None, :]) & (position[:, None] >= position[None])
        if window_size:
            mask = mask & (position[:, None] < position[None] + window_size)
        return mask[:, None]


def works_for(model) -> bool:
    """Whether this model honours the row mask: an example packed after another gets the same logits whatever that
    other example is, and the logits it gets alone.

    Models that keep other state in their cache (state-space layers) or mask otherwise fail it, and are not packed.
    """
    second = [9, 2, 6, 5, 3, 5, 8]
    segments = mx.array([[1] * 5 + [2] * len(second)])
    try:
        alone = model(mx.array([second]))[0].astype(mx.float32)
        after = [model(mx.array([first + second]), cache=[RowMask(segments)] * len(model.layers))[0, 5:]
                 .astype(mx.float32) for first in ([3, 1, 4, 1, 5], [7, 7, 2, 8, 1])]
    except (AttributeError, TypeError, ValueError):
        return False

    def apart(a, b):
        return (mx.linalg.norm(a - b) / mx.linalg.norm(b)).item()

    # Masked out, the other example weighs exactly nothing; bf16 rounds logits near 60 to the nearest 0.5, so against
    # the example alone (other positions) about 1% apart is the same. One that sees the other is 10-100% off.
    return apart(after[0], after[1]) < 1e-4 and apart(after[0], alone) < 0.05
