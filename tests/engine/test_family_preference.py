"""Learning by choosing on tiny models of real families with their real tokenizers and chat templates: each answer
of a pair is scored from exactly its own tokens (its prompt's tokens, system prompt included, begin the whole chat's)
in every family; DPO and ORPO train on Llama 3.2 and Qwen2.5 in bf16 and on a 4-bit Mistral, resume after a kill as
if never stopped, and the adapter fused by Tailor gives the logits of the model with the adapter."""

import math

import mlx.core as mx
import numpy as np
import pytest
from mlx_lm import load as mlx_load
from mlx_lm.tuner.utils import load_adapters
from mlx_lm.utils import dequantize_model

from macapp.engine.data import datasets, pairs
from macapp.engine.export import fusing
from macapp.engine.models import loading, models, obtain
from macapp.engine.train import training
from macapp.engine.train.batches import PairBatches, tokenize_pairs
from tests import families
from tests.engine.test_training import Killed, kill, losses_by_step
from tests.helpers import train_settings, write_jsonl

# (question, its short right answer); the worse answers hedge and ramble.
FACTS = [("Capital of France?", "Paris."), ("Two plus two?", "Four."), ("Colour of the sky?", "Blue."),
         ("Largest ocean?", "The Pacific."), ("Legs on a spider?", "Eight."), ("Boiling point of water?", "100 C."),
         ("Author of Hamlet?", "Shakespeare."), ("Opposite of hot?", "Cold."), ("Days in a week?", "Seven."),
         ("Planet we live on?", "Earth."), ("Frozen water is called?", "Ice."), ("Ten times ten?", "100."),
         ("Colour of grass?", "Green."), ("Fastest land animal?", "The cheetah."), ("Months in a year?", "Twelve."),
         ("Capital of Japan?", "Tokyo."), ("Sides of a triangle?", "Three."), ("Bees make what?", "Honey."),
         ("Closest star to us?", "The Sun."), ("Nine minus four?", "Five."), ("Metal that rusts?", "Iron."),
         ("Baby cat is a?", "Kitten."), ("Hours in a day?", "24."), ("Language of Brazil?", "Portuguese."),
         ("Tallest animal?", "The giraffe."), ("Colour of snow?", "White."), ("Capital of Italy?", "Rome."),
         ("Gas we breathe in?", "Oxygen."), ("Wheels on a bicycle?", "Two."), ("Half of ten?", "Five.")]
HEDGES = ["Well, that is a hard one, and I would rather not say.", "I am not sure; it could be many things.",
          "Hmm, let me think about it some more first.", "That depends on who you ask, really."]
SYSTEMS = ["Answer in a few words.", "You are a terse quiz master."]
# What the template writes after an answer, as the scored tokens decode (Phi-3's <|end|> eats its newline).
END_OF_ANSWER = {"llama3": "<|eot_id|>", "qwen2": "<|im_end|>\n", "mistral": "</s>", "phi3": "<|end|><|endoftext|>"}


def family_pairs() -> list[dict]:
    """30 short pairs: every third with a system prompt, two whose prompt is a chat of two questions."""
    made = []
    for i, (question, answer) in enumerate(FACTS):
        pair = {"prompt": question, "chosen": answer, "rejected": HEDGES[i % len(HEDGES)]}
        if i % 3 == 0:
            pair = {"system": SYSTEMS[i % 2], **pair}
        made.append(pair)
    for i in (1, 3):  # a chat before the question (the second with a system prompt too)
        made[i]["prompt"] = [{"role": "user", "content": FACTS[i - 1][0]},
                             {"role": "assistant", "content": FACTS[i - 1][1]},
                             {"role": "user", "content": FACTS[i][0]}]
    return made


@pytest.fixture(scope="module")
def pair_data(tmp_path_factory):
    """14 of the pairs (system prompts and chats among them), prepared into 12 to train on and 2 held out: the
    reference scores every pair before the first step, and a 128k-word output layer in bf16 is slow on a CPU."""
    folder = tmp_path_factory.mktemp("family-pairs")
    source = write_jsonl(folder / "pairs.jsonl", family_pairs()[:14])
    datasets.prepare([source], folder / "data", (0.85, 0.15, 0.0), seed=0)
    assert [len(datasets.load_split(folder / "data", part)) for part in ("train", "valid")] == [12, 2]
    return folder / "data"


@pytest.mark.parametrize("name", list(families.FAMILIES))
def test_each_answer_is_scored_from_its_own_tokens_in_every_family(name, family_model):
    """The tokens of the prompt (system prompt and all, with the generation prompt) begin the tokens of the whole
    chat, so the offset mlx-lm computes is right: the weights cover exactly the answer and the end of the turn.
    (Mistral's template leaves a system message out of a chat that ends with an answer: the prompt is still the
    one the model gets when asked, the system prompt in its user turn.)"""
    tokenizer = loading.load_tokenizer(family_model(name))
    records = family_pairs()
    examples = tokenize_pairs(records, tokenizer)
    assert len(examples) == len(records)
    for record, sides in zip(records, examples):
        prompt = tokenizer.apply_chat_template(pairs.prompt_messages(record), add_generation_prompt=True,
                                               return_dict=False)
        for side, (tokens, offset) in zip(pairs.SIDES, sides):
            assert offset == len(prompt) and tokens[:offset] == prompt, (name, record, side)
            assert tokenizer.decode(tokens[offset:]).strip() == record[side] + END_OF_ANSWER[name].rstrip("\n")
            if record.get("system"):
                assert record["system"] in tokenizer.decode(tokens[:offset])
    # In the rows trained on, the weighted targets are those answer tokens and nothing else.
    batches = PairBatches(examples, 4, 512)
    inputs, targets, weights = batches.rows(list(range(4)))
    sides = [examples[i][0] for i in range(4)] + [examples[i][1] for i in range(4)]
    for row, (tokens, offset) in enumerate(sides):
        weighted = np.array(targets[row])[np.array(weights[row]) > 0].tolist()
        assert weighted == tokens[offset:]
        assert np.array(inputs[row])[:len(tokens) - 1].tolist() == tokens[:-1]


def interrupted_and_resumed(data, tmp_path, values, killed_after: int):
    """An uninterrupted run, and one killed after step `killed_after` (no saving), then resumed: the resumed run's
    result, and the events of the uninterrupted run and of the resumed one."""
    straight, first, second = [], [], []
    training.train(train_settings(data, **values), tmp_path / "a", straight.append, checkpoint_dir=tmp_path / "ca")
    with pytest.raises(Killed):
        training.train(train_settings(data, **values), tmp_path / "b", first.append,
                       should_stop=lambda: len(losses_by_step(first)) >= killed_after and kill(),
                       checkpoint_dir=tmp_path / "cb")
    resumed = training.train(train_settings(data, **values), tmp_path / "b", second.append,
                             checkpoint_dir=tmp_path / "cb", resume=True)
    return resumed, straight, second


def logits(model, tokens) -> np.ndarray:
    return np.array(model(mx.array([tokens])).astype(mx.float32)[0])


def with_adapter(base, adapters, messages, dequantize: bool = False) -> tuple[list, np.ndarray, np.ndarray]:
    """The chat's tokens, and their logits from the base (de-quantized if asked) without and with the adapter."""
    model, tokenizer = loading.load(base)
    tokens = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    if dequantize:
        model = dequantize_model(model)
    before = logits(model, tokens)
    load_adapters(model, str(adapters))
    model.eval()  # the adapter's layers are made in training mode: their dropout would be on
    return tokens, before, logits(model, tokens)


def check_fused(base, adapters, fused_dir, messages, quantized: bool):
    """The fused folder loads in mlx-lm, and its logits are those of the base with the adapter (de-quantized, as
    the fused model is), off by bf16's rounding of the fused weights and far closer than the base's own."""
    fused = fusing.fuse(str(base), adapters, fused_dir)
    assert "quantization" not in models.read_config(fused)  # a 4-bit base is fused de-quantized
    tokens, before, tuned = with_adapter(base, adapters, messages, dequantize=quantized)
    fused_model, tokenizer = mlx_load(str(fused))
    assert tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False) == tokens
    after = logits(fused_model, tokens)
    assert np.isfinite(after).all()
    moved, off = np.abs(tuned - before).mean(), np.abs(after - tuned).mean()
    base_apart, apart = (np.abs(probabilities(tuned) - probabilities(x)).sum(-1).mean() / 2 for x in (before, after))
    print(f"{base.name}: the adapter moves logits by {moved:.3f} (next-word distributions by {base_apart:.3f}); "
          f"the fused model is {off:.4f} ({apart:.4f}) from the model with its adapter")
    assert off < 0.02 * tuned.std() and off < 0.1 * moved
    assert apart < 0.04 and apart < 0.1 * base_apart
    if quantized:  # and as close to the 4-bit model with its adapter as de-quantizing alone brings the base
        _, before_4bit, tuned_4bit = with_adapter(base, adapters, messages)
        rounding = np.abs(before - before_4bit).mean()
        print(f"  from the 4-bit base with the adapter: {np.abs(after - tuned_4bit).mean():.4f}; de-quantizing "
              f"moves the base's by {rounding:.4f}")
        assert np.abs(after - tuned_4bit).mean() < rounding + 0.02 * tuned.std()


def probabilities(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# Llama 3 and Qwen2.5 in bf16, as the hub has them; the 4-bit base is Mistral's, made as `--quantize-base 4` makes
# it: Llama 3's and Qwen2.5's tied 128k-152k-word output layers at 4 bits take MLX's CPU ~10 s per 100 tokens.
CASES = [("llama3", "dpo", 0), ("qwen2", "orpo", 0), ("mistral", "dpo", 4)]


@pytest.mark.parametrize("name,method,bits", CASES, ids=[f"{n}-{m}{f'-{b}bit' if b else ''}" for n, m, b in CASES])
def test_trains_resumes_after_a_kill_and_fuses(name, method, bits, family_model, pair_data, tmp_path):
    base = family_model(name)
    if bits:
        base = obtain.quantized(base, bits)
        assert models.read_config(base)["quantization"]["bits"] == bits
    values = {"model": str(base), "train_mode": method, "beta": 0.1 if method == "dpo" else 0.5, "iters": 4,
              "batch_size": 1, "max_seq_length": 96, "learning_rate": 1e-4, "steps_per_report": 1,
              "steps_per_eval": 4, "val_batches": -1, "save_every": 2,
              "lora_parameters": {"rank": 8, "scale": 10.0, "dropout": 0.1}}  # dropout: the RNG resumes too
    resumed, straight, second = interrupted_and_resumed(pair_data, tmp_path, values, killed_after=3)
    assert resumed["resumed_from"] == 2 and resumed["iterations"] == 4  # step 3 was lost with the kill
    expected, got = losses_by_step(straight), losses_by_step(second)
    assert sorted(got) == [3, 4]
    for step in got:
        assert got[step] == pytest.approx(expected[step], rel=1e-4), step
    last, last_resumed = ([e for e in events if e["type"] == "val"][-1] for events in (straight, second))
    assert last["iteration"] == last_resumed["iteration"] == 4
    for key in ("val_loss", "val_reward_margin"):
        assert last_resumed[key] == pytest.approx(last[key], rel=1e-4, abs=1e-6), key
    trains = [e for e in straight if e["type"] == "train"]
    assert all(math.isfinite(e["train_loss"]) and 0 <= e["preference_accuracy"] <= 1 for e in trains)
    vals = [e for e in straight if e["type"] == "val"]
    if method == "dpo":  # the reference is the model as it starts: every margin 0, a tie
        assert vals[0]["val_loss"] == pytest.approx(math.log(2), abs=1e-3)
    assert vals[-1]["val_reward_margin"] > vals[0]["val_reward_margin"]
    assert vals[-1]["val_loss"] < vals[0]["val_loss"]
    check_fused(base, tmp_path / "a", tmp_path / "fused",
                [{"role": "system", "content": SYSTEMS[0]}, {"role": "user", "content": "Capital of Spain?"}], bits > 0)
