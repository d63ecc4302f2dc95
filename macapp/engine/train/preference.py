"""Learning by choosing (DPO, ORPO): the loss of pairs of a better and a worse answer, the reference's scores made
once before the first step, the measures of held-out pairs, and the training steps themselves.

mlx-lm's trainer reports a loss and a count only; a pair's step also gives its reward margin and whether the model
prefers the better answer, so Tailor runs these steps itself, with the same session (checkpoints, stop, best).
"""

import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.nn.utils import average_gradients
from mlx.utils import tree_map
from mlx_lm.tuner.trainer import grad_checkpoint
from mlx_lm.utils import maybe_set_recommended_wired_limit

from . import losses
from .batches import PairBatches, tokenize_pairs
from .config import TrainConfig


def _log1mexp(logp):
    """log(1 - exp(logp)) for a log-probability, without losing precision at either end."""
    logp = mx.minimum(logp, -1e-7)
    return mx.where(logp > -0.6931471805599453, mx.log(-mx.expm1(logp)), mx.log1p(-mx.exp(logp)))


def pair_terms(method: str, beta: float, logps, counts, reference):
    """(each pair's loss, each pair's reward margin) from the rows' answer log-probabilities `logps` and token
    `counts` (chosen rows, then rejected ones) and the reference's log-probabilities of the same rows.

    DPO: -log sigmoid(beta * ((chosen - its reference) - (rejected - its reference))), answers' summed log-probs.
    ORPO: the better answer's mean negative log-likelihood - lambda * log sigmoid(log odds ratio), per-token means.
    """
    n = logps.shape[0] // 2
    chosen, rejected = logps[:n], logps[n:]
    if method == "dpo":
        margin = beta * ((chosen - reference[:n]) - (rejected - reference[n:]))
        return -nn.log_sigmoid(margin), margin
    chosen, rejected = chosen / mx.maximum(counts[:n], 1), rejected / mx.maximum(counts[n:], 1)
    odds = (chosen - rejected) - (_log1mexp(chosen) - _log1mexp(rejected))
    return -chosen - beta * nn.log_sigmoid(odds), beta * (chosen - rejected)


def make_loss(model, method: str, beta: float, group=None):
    """loss(model, inputs, targets, weights, reference) on PairBatches' batches: (the pairs' mean loss, the pairs,
    the sum of their reward margins, how many the model prefers the better answer of; a tie counts half).

    With a `group` of processes that train together the mean is over the whole group's pairs, scaled as
    losses.make_loss does, so the averaged gradient is the gradient of that mean.
    """
    model_split = losses.split(model)

    def loss(model, inputs, targets, weights, reference):
        logps = -losses.model_token_losses(model, model_split, inputs, targets, weights).sum(-1)
        each, margin = pair_terms(method, beta, logps, weights.sum(-1), reference)
        count = mx.array(each.shape[0])
        right = (margin > 0).sum() + 0.5 * (margin == 0).sum()
        return losses.group_mean(each.sum(), count, group), count, margin.sum(), right

    return loss


def answer_scores(model, batches: PairBatches) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's two answers' log-probability (summed over the answer's tokens) and token count under `model`,
    as (pairs x 2) arrays, made in the batches training makes, then the pairs no batch holds."""
    model_split = losses.split(model)
    scores, counts = np.zeros((len(batches), 2), np.float32), np.zeros((len(batches), 2), np.float32)
    grouped = {i for group in batches.groups for i in group}
    rest = [i for i in range(len(batches)) if i not in grouped]
    with losses.evaluating(model):  # the scores of the model itself, without dropout
        for members in [*batches.groups, *(rest[i:i + batches.batch_size] for i in range(0, len(rest),
                                                                                          batches.batch_size))]:
            inputs, targets, weights = batches.rows(members)
            logps = -losses.model_token_losses(model, model_split, inputs, targets, weights).sum(-1)
            scores[members] = np.array(logps.reshape(2, -1).T)
            counts[members] = np.array(weights.sum(-1).reshape(2, -1).T)
    return scores, counts


def score_reference(model, batches: PairBatches) -> None:
    """The log-probability of each pair's two answers under the model as it starts (the base, or the run it goes on
    from): DPO's reference, made once, in the same batches training makes, so no second model is held."""
    batches.reference = answer_scores(model, batches)[0]


def gaps(model, tokenizer, records: list[dict], batch_size: int = 8, max_seq_length: int = 2048) -> np.ndarray:
    """How much likelier `model` finds each pair's better answer than its worse one (the difference of their
    log-probabilities). A tuned model prefers the better answer of a pair more than its base where its gap is wider:
    the share of such pairs is DPO's held-out preference accuracy."""
    examples = tokenize_pairs(records, tokenizer)
    scores, _ = answer_scores(model, PairBatches(examples, min(batch_size, len(examples)), max_seq_length))
    return scores[:, 0] - scores[:, 1]


def held_out(model, loss, batches, num_batches: int, iterate) -> dict:
    """The held-out pairs' mean loss, reward margin and preference accuracy (`iterate` gives their batches and stops
    early on a stop); summed over a group's processes."""
    model.eval()
    totals = mx.zeros((4,))
    for index, batch in enumerate(iterate(batches, batches.batch_size, batches.max_seq_length)):
        if num_batches != -1 and index >= num_batches:
            break
        value, count, margin, right = loss(model, *batch)
        totals = totals + mx.stack([value * count, count, margin, right]).astype(mx.float32)
        mx.eval(totals)
    total, count, margin, right = mx.distributed.all_sum(totals, stream=mx.cpu).tolist()
    count = max(count, 1)
    return {"val_loss": total / count, "val_reward_margin": margin / count, "val_preference_accuracy": right / count}


def train_pairs(model, optimizer, loss, session, config: TrainConfig, iters: int) -> None:
    """`iters` steps on the session's pair batches, reporting to it as mlx-lm's trainer does, with each report's
    reward margin and preference accuracy too."""
    maybe_set_recommended_wired_limit()
    if config.grad_checkpoint:
        grad_checkpoint(model.layers[0])
    value_and_grad = nn.value_and_grad(model, loss)
    accumulate = config.grad_accumulation_steps
    state = [model.state, optimizer.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(batch, previous, update):
        (value, count, margin, right), grad = value_and_grad(model, *batch)
        if previous is not None:
            grad = tree_map(lambda a, b: a + b, grad, previous)
        if update:
            grad = average_gradients(grad)
            if accumulate > 1:
                grad = tree_map(lambda g: g / accumulate, grad)
            optimizer.update(model, grad)
            grad = None
        return value, count, margin, right, grad

    model.train()
    world = mx.distributed.init().size()
    grad, sums, steps, seconds, trained = None, mx.zeros((5,)), 0, 0.0, 0
    batches = session.iterate(None, config.batch_size, config.max_seq_length, loop=True)
    for iteration, batch in zip(range(1, iters + 1), batches):
        started = time.perf_counter()
        value, count, margin, right, grad = step(batch, grad, iteration % accumulate == 0)
        sums = sums + mx.stack([value, count, margin, right, batch[2].sum()]).astype(mx.float32)
        mx.eval(state, sums, grad)
        if config.clear_cache_threshold and mx.get_cache_memory() > config.clear_cache_threshold:
            mx.clear_cache()
        seconds += time.perf_counter() - started
        steps += 1
        if iteration % config.steps_per_report == 0 or iteration == iters:
            total, pairs, margins, rights, tokens = mx.distributed.all_sum(sums, stream=mx.cpu).tolist()
            trained += int(tokens)
            session.on_train_loss_report({
                "iteration": iteration, "train_loss": total / (steps * world), "reward_margin": margins / pairs,
                "preference_accuracy": rights / pairs, "learning_rate": optimizer.learning_rate.item(),
                "iterations_per_second": steps / seconds, "tokens_per_second": tokens / seconds,
                "trained_tokens": trained, "peak_memory": mx.get_peak_memory() / 1e9})
            sums, steps, seconds = mx.zeros((5,)), 0, 0.0
