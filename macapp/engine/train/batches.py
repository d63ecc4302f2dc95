"""Length-aware batches for mlx-lm's trainer: sorted by token length, then packed into as few rows as they fit.

A step's examples are similar in length (mlx-lm means to sort too, but sorts by the number of keys of the raw
record). When some of them fit side by side in a row as wide as the longest, they share it, kept apart by a mask
(packing.RowMask); widths come from a short list, so the compiled step is traced for few shapes. When several
processes train together, each takes every N-th example of a step, so all get similar lengths. A preference pair's
two answers are two rows of the same batch (PairBatches).
"""

import types

import mlx.core as mx
import numpy as np
from mlx_lm.tuner.datasets import create_dataset

from ..data import pairs
from . import packing


def tokenize(records: list[dict], tokenizer, mask_prompt: bool) -> list[tuple[list[int], int]]:
    """(tokens, prompt offset) per record, exactly as mlx-lm's datasets tokenize them."""
    if not records:
        return []
    dataset = create_dataset(records, tokenizer, types.SimpleNamespace(mask_prompt=mask_prompt))
    return [dataset.process(dataset[i]) for i in range(len(dataset))]


def _scorable(chat: list[dict], tokenizer) -> list[dict]:
    """A pair's whole chat, with a system message the template drops from a chat that ends with an answer (Mistral
    v0.3's) or refuses (Gemma's) put before the last user message's text instead, as Mistral writes it before a
    generation prompt: otherwise the prompt's tokens do not begin the chat's and the answer's mask is wrong."""
    if chat[0]["role"] != "system" or not any(m.get("role") == "user" for m in chat):
        return chat
    try:
        prompt = tokenizer.apply_chat_template(chat[:-1], add_generation_prompt=True, return_dict=False)
        if tokenizer.apply_chat_template(chat, return_dict=False)[:len(prompt)] == prompt:
            return chat
    except Exception:  # templates raise whatever their authors chose
        pass
    last = max(i for i, m in enumerate(chat) if m.get("role") == "user")
    merged = {**chat[last], "content": f"{chat[0]['content']}\n\n{chat[last]['content']}"}
    return chat[1:last] + [merged] + chat[last + 1:]


def tokenize_pairs(records: list[dict], tokenizer) -> list[tuple[tuple, tuple]]:
    """(chosen, rejected) per pair, each side (tokens, prompt offset) of its whole chat: only the answer is scored."""
    sides = tokenize([{"messages": _scorable(pairs.answered(record, side), tokenizer)} for record in records
                      for side in pairs.SIDES], tokenizer, mask_prompt=True)
    return list(zip(sides[::2], sides[1::2]))


def width_for(tokens: int) -> int:
    """The row width for `tokens`: the next of 16 widths per doubling (8, 16, ... 256, 272, ... 512, 544, ...)."""
    step = max(8, 1 << max(0, tokens.bit_length() - 5))
    return step * -(-tokens // step)


def batch_rows(chosen: list[tuple], max_seq_length: int, pack: bool):
    """(inputs, targets, weights, segments) of (tokens, prompt_offset) examples: a row position holds a token and, as
    its target, the one after; short examples share a row where `pack` allows."""
    tokens = [seq[:max_seq_length] for seq, _ in chosen]
    sizes = [len(seq) - 1 for seq in tokens]  # the (token, next token) pairs of each example
    width = min(width_for(max(max(sizes), 1)), max_seq_length)
    rows = packing.first_fit(sizes, width) if pack else [[i] for i in range(len(tokens))]
    packed = len(rows) < len(tokens)
    inputs, targets = np.zeros((len(rows), width), np.int32), np.zeros((len(rows), width), np.int32)
    weights, segments = np.zeros((len(rows), width), np.float32), np.zeros((len(rows), width), np.int32)
    for row, members in enumerate(rows):
        start = 0
        for number, i in enumerate(members, 1):
            seq, end = tokens[i], start + sizes[i]
            inputs[row, start:end], targets[row, start:end] = seq[:-1], seq[1:]
            weights[row, start:end] = np.arange(1, sizes[i] + 1) >= chosen[i][1]  # the prompt is not trained
            segments[row, start:end] = number
            start = end
    return mx.array(inputs), mx.array(targets), mx.array(weights), mx.array(segments) if packed else None


class LengthBatches:
    """Batches of a tokenized dataset, in an order fixed by the seed.

    `examples` are (tokens, prompt_offset) pairs as mlx-lm's datasets produce them. A batch is (inputs, targets,
    weights, segments): weights are 1 where a target is trained; segments tell the examples of a packed row apart
    and are None when every example has a row of its own. `share` is (rank, size) of a group of processes that train
    together: this process's batches hold its share of each step's examples, the same steps on every rank.
    """

    def __init__(self, examples, batch_size: int, max_seq_length: int, seed: int = 0, pack: bool = True,
                 share: tuple[int, int] = (0, 1)):
        if len(examples) < batch_size:
            raise ValueError(f"Only {len(examples)} examples for a batch size of {batch_size}.")
        if batch_size % share[1]:
            raise ValueError(f"A batch size of {batch_size} cannot be shared by {share[1]} processes.")
        self.examples = examples
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.pack = pack
        self.rank, self.size = share
        order = sorted(range(len(examples)), key=self.length)
        self.groups = [order[i:i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
        self.rng = np.random.default_rng(seed)
        self.order, self.position, self.epoch_start = [], 0, None

    def __len__(self):
        return len(self.examples)

    def length(self, index: int) -> int:
        return len(self.examples[index][0])

    def epoch(self):
        """The groups of one pass, shuffled so lengths are not seen in order."""
        return [self.groups[i] for i in self.rng.permutation(len(self.groups))]

    def make_batch(self, group):
        return batch_rows([self.examples[i] for i in group[self.rank::self.size]], self.max_seq_length, self.pack)

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


class PairBatches(LengthBatches):
    """Batches of preference pairs: the chosen answers' rows, then the rejected ones' in the same order, and the
    reference model's log-probability of each row (`reference`, per pair (chosen, rejected); set before training).

    `examples` are (chosen, rejected) pairs of (tokens, prompt_offset); a batch is (inputs, targets, weights,
    reference) and is never packed: each answer's log-probability is the sum over its own row.
    """

    def __init__(self, examples, batch_size: int, max_seq_length: int, seed: int = 0,
                 share: tuple[int, int] = (0, 1)):
        super().__init__(examples, batch_size, max_seq_length, seed, False, share)
        self.reference = None

    def length(self, index: int) -> int:
        return max(len(side[0]) for side in self.examples[index])

    def rows(self, members):
        """The (inputs, targets, weights) of the pairs `members`: their chosen rows, then their rejected ones."""
        sides = [self.examples[i][0] for i in members] + [self.examples[i][1] for i in members]
        return batch_rows(sides, self.max_seq_length, False)[:3]

    def make_batch(self, group):
        members = group[self.rank::self.size]
        scores = self.reference[members] if self.reference is not None else np.zeros((len(members), 2), np.float32)
        return *self.rows(members), mx.array(np.concatenate([scores[:, 0], scores[:, 1]]))

    def state(self) -> dict:
        """The data order and the reference's scores, exactly (float32 written as JSON numbers reads back the same)."""
        return {**super().state(), "reference": None if self.reference is None else self.reference.tolist()}

    def restore(self, state: dict) -> None:
        super().restore(state)
        if state.get("reference") is not None:
            self.reference = np.array(state["reference"], np.float32)
