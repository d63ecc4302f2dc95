"""The training loss: cross-entropy over the vocabulary a chunk of tokens at a time, on padded or packed rows.

A batch's full logits (rows x length x vocabulary, 128k-262k wide on the models people train) never exist at once:
each chunk's are made, reduced and dropped, and made again in turn for its gradient.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from ..models import memory
from .packing import RowMask


@dataclass
class Split:
    """A model cut before its output layer: `body(inputs, cache)` gives the last hidden states, `head` the logits."""

    body: Callable
    head: Callable
    vocabulary: int

    def chunk_tokens(self) -> int:
        return memory.chunk_tokens(self.vocabulary)


def token_losses(logits, targets, weights):
    """The cross-entropy of each token, in float32, weighted."""
    return nn.losses.cross_entropy(logits, targets).astype(mx.float32) * weights


@contextmanager
def evaluating(model):
    """The model in evaluation mode (no dropout) for a while, then in the mode it was in: LoRA layers added to a
    loaded model train, dropout and all, until told otherwise."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


def split(model) -> Split | None:
    """The model's body and its output layer, checked to give the model's own logits; None for a model cut
    otherwise, or whose output layer is trained (the chunked gradient is the hidden states' only)."""
    language = model.get("language_model", model)  # Gemma 3's text model sits inside its multimodal one
    inner = language.get("model")
    if not isinstance(inner, nn.Module) or "embed_tokens" not in inner:
        return None
    head_module = language["lm_head"] if "lm_head" in language else inner["embed_tokens"]
    if tree_flatten(head_module.trainable_parameters()):
        return None
    linear = head_module if "lm_head" in language else None
    cap = getattr(language, "final_logit_softcapping", None)

    def head(hidden):
        logits = linear(hidden) if linear is not None else head_module.as_linear(hidden)
        return mx.tanh(logits / cap) * cap if cap else logits

    probe = mx.array([[1, 2, 3, 4, 5, 6, 7, 8]])
    with evaluating(model):  # LoRA's dropout would make two passes differ
        whole, parts = model(probe), head(inner(probe))
    if whole.shape != parts.shape or not mx.allclose(whole, parts, atol=1e-4, rtol=1e-3).item():
        return None
    return Split(inner, head, whole.shape[-1])


def chunked_token_losses(model_split: Split, hidden, targets, weights):
    """Each token's weighted cross-entropy (`targets`' shape), computed `chunk_tokens` tokens at a time, forward and
    back.

    MLX runs independent work side by side, which would make every chunk's logits at once; each chunk therefore
    waits for the one before (mx.depends), and the gradient remakes each chunk's logits in turn (the output layer is
    never trained, so the hidden states are all that needs a gradient).
    """
    width = hidden.shape[-1]
    size = model_split.chunk_tokens()

    def chunk_losses(h, t, w):
        return token_losses(model_split.head(h), t, w)

    if hidden.size <= size * width:  # the whole batch's logits are no bigger than a chunk's
        return chunk_losses(hidden, targets, weights)

    def chunks(*arrays):
        cuts = list(range(size, arrays[0].shape[0], size))
        return zip(*(mx.split(a, cuts) for a in arrays))

    @mx.custom_function
    def each_token(hidden, targets, weights):
        parts = [mx.zeros((0,), mx.float32)]
        for h, t, w in chunks(hidden, targets, weights):
            parts.append(chunk_losses(mx.depends(h, parts[-1]), t, w))
        return mx.concatenate(parts)

    @each_token.vjp
    def each_token_vjp(primals, cotangent, _):
        hidden, targets, weights = primals
        gradients = [mx.zeros((0, width), hidden.dtype)]
        for h, t, w, c in chunks(hidden, targets, weights, cotangent):
            _, (gradient,) = mx.vjp(lambda h: chunk_losses(h, t, w), [mx.depends(h, gradients[-1])], [c])
            gradients.append(gradient)
        return mx.concatenate(gradients), mx.zeros_like(targets), mx.zeros_like(weights)

    return each_token(hidden.reshape(-1, width), targets.reshape(-1), weights.reshape(-1)).reshape(targets.shape)


def model_token_losses(model, model_split: Split | None, inputs, targets, weights, cache=None):
    """Each token's weighted cross-entropy: chunked where the model's output layer was found (`model_split`), else
    through the model's own forward pass, its full logits at once."""
    if model_split is None:
        return token_losses(model(inputs, cache=cache), targets, weights)
    return chunked_token_losses(model_split, model_split.body(inputs, cache=cache), targets, weights)


def plain_cross_entropy(model, inputs, targets, weights, cache=None):
    """The weighted sum through the model's own forward pass: its full logits at once (the reference)."""
    return token_losses(model(inputs, cache=cache), targets, weights).sum()


def make_loss(model, group=None):
    """The loss mlx-lm's trainer and evaluation call as `loss(model, *batch)` on LengthBatches' batches: the mean
    cross-entropy of the trained tokens, and their count. Chunked where the model's output layer was found.

    With a `group` of processes that train together (mx.distributed), the mean is over the whole group's tokens,
    scaled so that mlx-lm's average of the processes' gradients is the gradient of that mean: the same step as one
    process taking the whole batch. Evaluation, which weighs each process's loss by its own count, takes no group.
    """
    model_split = split(model)
    layers = len(model.layers)

    def loss(model, inputs, targets, weights, segments=None):
        cache = None if segments is None else [RowMask(segments)] * layers
        total = model_token_losses(model, model_split, inputs, targets, weights, cache).sum()
        count = weights.sum().astype(mx.int32)
        return group_mean(total, count, group), count

    return loss


def group_mean(total, count, group=None):
    """`total` over `count`; with a `group` of processes that train together, over the whole group's count, scaled so
    that mlx-lm's average of the processes' gradients is the gradient of that mean."""
    if group is None or group.size() == 1:
        return total / mx.maximum(count, 1)
    everyone = mx.stop_gradient(mx.distributed.all_sum(count, group=group))
    return total * group.size() / mx.maximum(everyone, 1)
