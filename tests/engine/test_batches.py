"""Length-aware batches: sorted, padded only to their longest member, deterministic, same loss."""

import mlx.core as mx
import numpy as np
from mlx_lm.tuner.datasets import CacheDataset
from mlx_lm.tuner.trainer import default_loss
from mlx_lm.tuner.trainer import iterate_batches as mlx_iterate_batches

from macapp.engine.batches import PAD_MULTIPLE, LengthBatches


def examples(lengths):
    return [(list(range(1, n + 1)), 1) for n in lengths]


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


def test_batches_group_similar_lengths_and_pad_to_the_longest():
    rng = np.random.default_rng(0)
    data = examples(rng.integers(5, 300, size=64))
    batches = LengthBatches(data, batch_size=8, max_seq_length=2048)
    widths = []
    for group in batches.epoch():
        array, lengths = batches.make_batch(group)
        longest = int(lengths[:, 1].max())
        assert array.shape[1] == PAD_MULTIPLE * -(-longest // PAD_MULTIPLE) + 1
        widths.append(array.shape[1])
    mlx_widths = [b.shape[1] for b, _ in mlx_iterate_batches(CacheDataset(RawRecords(data)), 8, 2048, seed=0)]
    assert sum(widths) < 0.75 * sum(mlx_widths)  # mlx-lm's training batches do not sort: far more padding


def test_every_example_once_per_epoch_and_order_fixed_by_seed():
    data = examples(range(10, 90))
    first = LengthBatches(data, 8, 2048, seed=1).epoch()
    assert sorted(i for g in first for i in g) == list(range(80))
    assert first == LengthBatches(data, 8, 2048, seed=1).epoch()
    assert first != LengthBatches(data, 8, 2048, seed=2).epoch()


def test_long_examples_are_cut_to_max_seq_length():
    batches = LengthBatches(examples([10, 500]), 2, max_seq_length=64)
    array, lengths = batches.make_batch([0, 1])
    assert array.shape[1] == 64 and lengths.tolist() == [[1, 10], [1, 64]]


def test_loss_is_the_same_as_with_mlx_lm_padding(demo_model):
    from macapp.engine import loading

    model, _ = loading.load(demo_model)
    data = examples([40, 41, 42, 44])
    ours = LengthBatches(data, 4, 2048).make_batch([0, 1, 2, 3])
    theirs = next(mlx_iterate_batches(data, 4, 2048))
    assert ours[0].shape[1] < theirs[0].shape[1]
    loss_ours, tokens_ours = default_loss(model, *ours)
    loss_theirs, tokens_theirs = default_loss(model, *theirs)
    assert tokens_ours.item() == tokens_theirs.item()
    assert mx.allclose(loss_ours, loss_theirs, atol=1e-5).item()
