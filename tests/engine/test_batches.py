"""Length-aware batches: sorted, packed where examples fit side by side, few widths, deterministic."""

import numpy as np
import pytest
from mlx_lm.tuner.datasets import CacheDataset
from mlx_lm.tuner.trainer import iterate_batches as mlx_iterate_batches

from macapp.engine.train import packing
from macapp.engine.train.batches import LengthBatches, width_for


def examples(lengths, offset=1):
    return [(list(range(1, n + 1)), offset) for n in lengths]


class RawRecords:
    """Records as mlx-lm's training sees them: raw dicts, tokenized by `process`."""

    def __init__(self, data):
        self.data = data

    def __getitem__(self, index):
        return {"tokens": self.data[index]}

    def __len__(self):
        return len(self.data)

    def process(self, record):
        return record["tokens"]


def test_widths_come_from_a_short_list_and_waste_little():
    widths = {width_for(n) for n in range(1, 2049)}
    assert len(widths) <= 96  # at most 96 shapes a row can have up to 2,048 tokens (mlx-lm: 64; a width each: 2,048)
    assert all(n <= width_for(n) <= max(n * 1.0625, n + 7) for n in range(1, 2049))


def test_batches_group_similar_lengths_and_pad_little():
    rng = np.random.default_rng(0)
    data = examples(rng.integers(5, 300, size=64))
    batches = LengthBatches(data, batch_size=8, max_seq_length=2048)
    slots = 0
    for group in batches.epoch():
        inputs, targets, weights, segments = batches.make_batch(group)
        longest = max(len(data[i][0]) for i in group) - 1
        assert inputs.shape[1] == width_for(longest) and targets.shape == weights.shape == inputs.shape
        slots += inputs.size
    mlx_slots = sum(b.size for b, _ in mlx_iterate_batches(CacheDataset(RawRecords(data)), 8, 2048, seed=0))
    assert slots < 0.75 * mlx_slots  # mlx-lm's training batches do not sort: far more padding


def test_a_row_holds_tokens_and_their_next_tokens_and_trains_only_the_answer():
    batches = LengthBatches([([5, 6, 7, 8, 9], 3)], 1, 2048)
    inputs, targets, weights, segments = batches.make_batch([0])
    assert inputs.tolist()[0][:4] == [5, 6, 7, 8] and targets.tolist()[0][:4] == [6, 7, 8, 9]
    assert weights.tolist()[0][:5] == [0, 0, 1, 1, 0]  # the targets from the prompt's end on: 8 and 9; then padding
    assert segments is None


def test_examples_that_fit_side_by_side_share_a_row_and_stay_apart():
    data = examples([30, 50, 80, 120, 200, 260, 300, 400])
    batches = LengthBatches(data, 8, 512)
    inputs, targets, weights, segments = batches.make_batch(list(range(8)))
    assert inputs.shape == (4, width_for(399))  # 8 examples in 4 rows, as wide as the longest
    assert weights.sum().item() == sum(n - 1 for n in [30, 50, 80, 120, 200, 260, 300, 400])
    for row in segments.tolist():
        numbers = [s for s in row if s]
        assert numbers == sorted(numbers)  # each example in one run of its own number
    unpacked = LengthBatches(data, 8, 512, pack=False).make_batch(list(range(8)))
    assert unpacked[0].shape == (8, width_for(399)) and unpacked[3] is None
    assert unpacked[2].sum().item() == weights.sum().item()


def test_first_fit_puts_each_example_in_the_first_row_with_room():
    assert packing.first_fit([300, 200, 100, 90], 400) == [[0, 2], [1, 3]]
    assert packing.first_fit([10, 10], 15) == [[0], [1]]


def test_every_example_once_per_epoch_and_order_fixed_by_seed():
    data = examples(range(10, 90))
    first = LengthBatches(data, 8, 2048, seed=1).epoch()
    assert sorted(i for g in first for i in g) == list(range(80))
    assert first == LengthBatches(data, 8, 2048, seed=1).epoch()
    assert first != LengthBatches(data, 8, 2048, seed=2).epoch()


def test_long_examples_are_cut_to_max_seq_length():
    batches = LengthBatches(examples([10, 500]), 2, max_seq_length=64)
    inputs, _, weights, segments = batches.make_batch([0, 1])
    assert inputs.shape == (2, 64) and segments is None
    assert sorted(weights.sum(axis=1).tolist()) == [9, 63]


def test_processes_training_together_each_take_every_nth_example_of_the_same_steps():
    data = examples(range(10, 90))
    shares = [LengthBatches(data, 8, 2048, seed=3, share=(rank, 2)) for rank in range(2)]
    whole = LengthBatches(data, 8, 2048, seed=3)
    for _ in range(12):  # past an epoch's end: the next shuffle is the same on every rank too
        trained = [int(b.next_batch()[2].sum().item()) for b in shares]
        assert sum(trained) == int(whole.next_batch()[2].sum().item())
        assert abs(trained[0] - trained[1]) <= 8  # neighbours in length: shares of about the same size
    with pytest.raises(ValueError, match="cannot be shared by 4"):
        LengthBatches(data, 6, 2048, share=(0, 4))
