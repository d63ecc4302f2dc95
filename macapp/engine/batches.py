"""Length-aware batches for mlx-lm's trainer: sorted by token length, padded only to a batch's longest member.

mlx-lm means to sort by length but sorts by the number of keys of the raw record, so its batches
pad to a multiple of 32; here each batch pads to its longest member, rounded up to a multiple of 8.
"""

import mlx.core as mx
import numpy as np

PAD_MULTIPLE = 8  # few distinct shapes, so mx.compile does not retrace every step


class LengthBatches:
    """Batches of a tokenized dataset, in an order fixed by the seed.

    `examples` are (tokens, prompt_offset) pairs as mlx-lm's datasets produce them.
    """

    def __init__(self, examples, batch_size: int, max_seq_length: int, seed: int = 0):
        if len(examples) < batch_size:
            raise ValueError(f"Only {len(examples)} examples for a batch size of {batch_size}.")
        self.examples = examples
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
        self.groups = [order[i:i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
        self.rng = np.random.default_rng(seed)
        self.order, self.position, self.epoch_start = [], 0, None

    def __len__(self):
        return len(self.examples)

    def epoch(self):
        """The groups of one pass, shuffled so lengths are not seen in order."""
        return [self.groups[i] for i in self.rng.permutation(len(self.groups))]

    def make_batch(self, group):
        tokens = [self.examples[i][0][: self.max_seq_length] for i in group]
        offsets = [self.examples[i][1] for i in group]
        longest = max(len(t) for t in tokens)
        width = min(PAD_MULTIPLE * -(-longest // PAD_MULTIPLE) + 1, self.max_seq_length)
        array = np.zeros((len(tokens), width), np.int32)
        for row, seq in enumerate(tokens):
            array[row, : len(seq)] = seq
        lengths = [[offset, len(seq)] for offset, seq in zip(offsets, tokens)]
        return mx.array(array), mx.array(lengths)

    def __iter__(self):
        """One ordered pass over all full batches (validation)."""
        for group in self.groups:
            yield self.make_batch(group)

    def next_batch(self):
        """The next training batch; a new shuffled pass starts when one ends."""
        if self.position >= len(self.order):
            self.epoch_start = self.rng.bit_generator.state
            self.order, self.position = self.epoch(), 0
        self.position += 1
        return self.make_batch(self.order[self.position - 1])

    def state(self) -> dict:
        """Where the data order stands, as JSON: enough to continue exactly."""
        return {"epoch_start": self.epoch_start, "position": self.position}

    def restore(self, state: dict) -> None:
        if state["epoch_start"] is not None:
            self.rng.bit_generator.state = state["epoch_start"]
            self.epoch_start = self.rng.bit_generator.state
            self.order, self.position = self.epoch(), state["position"]
