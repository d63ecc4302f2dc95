"""The training loss: chunked over the vocabulary and on packed rows, equal to the plain loss of each example alone."""

import importlib
import random

import mlx.core as mx
import mlx.nn as nn
import pytest
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.tuner.trainer import default_loss
from mlx_lm.tuner.utils import linear_to_lora_layers

from macapp.engine.models import loading
from macapp.engine.train import losses, packing
from macapp.engine.train.batches import LengthBatches

# Llama 3's vocabulary on a tiny body, in float32: the logits are nearly all the memory, and gradients compare tightly
LLAMA3_VOCAB = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 128256, "rms_norm_eps": 1e-5,
                "rope_theta": 500000.0, "tie_word_embeddings": False}
LENGTHS = [20, 35, 50, 90]


def with_adapters(model):
    """LoRA on every layer, its B matrices random so that the adapters change the output (they start at zero)."""
    mx.random.seed(0)
    model.freeze()
    linear_to_lora_layers(model, len(model.layers), {"rank": 8, "scale": 20.0, "dropout": 0.0})
    model.update(tree_unflatten([(name, mx.random.normal(value.shape) * 0.01) for name, value
                                 in tree_flatten(model.trainable_parameters()) if name.endswith("lora_b")]))
    return model


def llama3_vocabulary_model():
    architecture = importlib.import_module("mlx_lm.models.llama")
    mx.random.seed(1)
    return with_adapters(architecture.Model(architecture.ModelArgs.from_dict(LLAMA3_VOCAB)))


def examples(vocabulary, lengths=LENGTHS, offset=6):
    rng = random.Random(0)
    return [([rng.randrange(3, vocabulary) for _ in range(n)], offset) for n in lengths]


def alone(model, data):
    """mlx-lm's own loss, one example at a time, over its true targets only (mlx-lm's batches add a padding one)."""
    total = count = 0
    for tokens, offset in data:
        loss, tokens_trained = default_loss(model, mx.array([tokens]), mx.array([[offset, len(tokens) - 1]]))
        total, count = total + loss * tokens_trained, count + tokens_trained
    return total / count


def test_the_chunked_loss_and_its_gradients_are_the_plain_ones():
    model = llama3_vocabulary_model()
    data = examples(LLAMA3_VOCAB["vocab_size"])
    model_split = losses.split(model)
    assert model_split is not None and model_split.chunk_tokens() == 32  # so this batch takes many chunks
    for pack in (False, True):
        batch = LengthBatches(data, len(data), 512, pack=pack).make_batch(list(range(len(data))))
        assert (batch[3] is not None) == pack
        (ours, count), our_grads = nn.value_and_grad(model, losses.make_loss(model))(model, *batch)
        theirs, their_grads = nn.value_and_grad(model, lambda m: alone(m, data))(model)
        assert count.item() == sum(n - 6 for n in LENGTHS)
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
        for (name, a), (_, b) in zip(tree_flatten(our_grads), tree_flatten(their_grads)):
            assert mx.allclose(a, b, rtol=1e-3, atol=1e-6 * mx.abs(b).max().item()).item(), name


def test_a_batch_s_full_logits_never_exist_at_once():
    model = llama3_vocabulary_model()
    batch = LengthBatches(examples(LLAMA3_VOCAB["vocab_size"], [257] * 4), 4, 512).make_batch([0, 1, 2, 3])

    def plain(model, inputs, targets, weights, segments):
        return losses.plain_cross_entropy(model, inputs, targets, weights) / weights.sum()

    peaks = {}
    for name, loss in (("plain", plain), ("chunked", losses.make_loss(model))):
        mx.clear_cache()
        mx.reset_peak_memory()
        mx.eval(nn.value_and_grad(model, loss)(model, *batch))
        peaks[name] = mx.get_peak_memory()
    logits = 4 * 256 * LLAMA3_VOCAB["vocab_size"] * 4
    assert peaks["plain"] > 2 * logits and peaks["chunked"] < 0.2 * peaks["plain"], peaks


@pytest.mark.parametrize("name", ["llama3", "qwen2", "mistral", "phi3"])
def test_each_example_of_a_packed_row_has_the_loss_it_has_alone(name, family_model):
    """In bf16, as the hub's models are: the examples after the first in a row see other positions' rounding, so the
    tolerance is bf16's; an example that could see its neighbours (no mask) is off by several times more."""
    model, _ = loading.load(family_model(name))
    model = with_adapters(model)
    assert packing.works_for(model)
    loss = losses.make_loss(model)
    data = examples(5000, [20, 35, 50, 90])
    inputs, targets, weights, segments = LengthBatches(data, 4, 512).make_batch([0, 1, 2, 3])
    assert inputs.shape[0] < len(data)
    rows = mx.arange(inputs.shape[0])[:, None]
    for row, number in {(r, s) for r, line in enumerate(segments.tolist()) for s in line if s}:
        mine = weights * ((segments == number) & (rows == row))
        packed, count = loss(model, inputs, targets, mine, segments)
        (example,) = [e for e in data if len(e[0]) - 1 - 5 == count.item()]
        single = alone(model, [example]).item()
        assert packed.item() == pytest.approx(single, rel=5e-3)
        if number > 1:
            unmasked, _ = loss(model, inputs, targets, mine, None)
            assert abs(unmasked.item() - single) > 4 * abs(packed.item() - single)


class OwnMask(nn.Module):
    """A model that makes its own mask and ignores the one it is given (as a state-space model would its cache)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    @property
    def layers(self):
        return self.inner.layers

    def __call__(self, inputs, cache=None):
        return self.inner(inputs) * 2.0  # and an output of its own, past the output layer


def test_a_model_that_ignores_the_row_mask_is_not_packed_nor_split(demo_model):
    model, _ = loading.load(demo_model)
    model.freeze()  # as training does: an output layer that is trained is not split either
    wrapped = OwnMask(model)
    assert packing.works_for(model) and losses.split(model) is not None
    assert not packing.works_for(wrapped) and losses.split(wrapped) is None
    data = examples(800, [20, 35])
    batch = LengthBatches(data, 2, 512, pack=False).make_batch([0, 1])
    ours, _ = losses.make_loss(wrapped)(wrapped, *batch)
    assert ours.item() == pytest.approx(alone(wrapped, data).item(), rel=1e-5)
