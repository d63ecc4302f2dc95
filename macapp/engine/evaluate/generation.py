"""Answers of a base model and of its fine-tuned adapter, streamed: one side at a time or side by side.

One base is loaded and the adapter is switched on and off in place, so the base and the tuned model
are never both held in memory; greedy decoding (the default) answers a prompt the same way every time.
"""

import json
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_unflatten
from mlx_lm.generate import BatchGenerator, stream_generate
from mlx_lm.sample_utils import apply_top_p, make_sampler
from mlx_lm.tuner.utils import load_adapters

from ..errors import InputError
from ..models import loading, obtain
from .sampling import Sampling

SIDES = ("base", "tuned")
BATCH = 16  # answers made at once: memory grows with the batch, speed much less past this


def format_chat(tokenizer, messages: list[dict], system: str | None = None) -> str:
    """The text a model sees for a chat so far, ending where the assistant's answer begins."""
    messages = ([{"role": "system", "content": system}] if system else []) + list(messages)
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def user(prompt: str) -> list[dict]:
    return [{"role": "user", "content": prompt}]


def adapter_kind(adapter_path) -> str:
    """'lora', 'dora' or 'full', from the adapter folder's adapter_config.json."""
    config_file = Path(adapter_path) / "adapter_config.json"
    if not (Path(adapter_path) / "adapters.safetensors").exists() or not config_file.exists():
        raise InputError(f"{adapter_path}: no adapter here (adapters.safetensors and adapter_config.json). "
                         "Train the run first, or choose another checkpoint.")
    return json.loads(config_file.read_text(encoding="utf-8")).get("fine_tune_type", "lora")


class TunedModel:
    """A base model with an adapter that `use("base")` and `use("tuned")` switch off and on.

    LoRA and DoRA layers are swapped with the plain layers they wrap. A full fine-tune's weights are
    loaded over the base's; switching back reads the base's weights from its folder again.
    """

    def __init__(self, model_name: str, adapter_path=None, report=lambda event: None, should_stop=lambda: False):
        self.kind = adapter_kind(adapter_path) if adapter_path else None  # before minutes of loading
        self.adapter_path = Path(adapter_path) if adapter_path else None
        self.model_path = obtain.resolve(model_name, report, should_stop)
        self.model, self.tokenizer = loading.load(self.model_path)
        self.side = "base"
        self.swaps = {}
        if self.kind and self.kind != "full":
            load_adapters(self.model, str(self.adapter_path))
            self.model.eval()  # the adapter's layers are made to train: without this, their dropout would stay on
            self.swaps = {name: (getattr(module, "linear", None) or module.embedding, module)
                          for name, module in self.model.named_modules() if "lora_a" in module}
            self.side = "tuned"
            self.use("base")

    @property
    def switch_is_cheap(self) -> bool:
        """True when switching costs nothing (adapter layers), so two answers can be interleaved."""
        return self.kind != "full"

    def use(self, side: str) -> None:
        if side == self.side:
            return
        if side == "tuned" and self.adapter_path is None:
            raise InputError("No adapter to compare with: train the run first.")
        if self.kind == "full":
            self.model.load_weights(self._weights(side), strict=False)
        else:
            which = 0 if side == "base" else 1
            self.model.update_modules(tree_unflatten([(name, pair[which]) for name, pair in self.swaps.items()]))
        self.side = side

    def _weights(self, side: str) -> list:
        tuned = mx.load(str(self.adapter_path / "adapters.safetensors"))
        if side == "tuned":
            return list(tuned.items())
        weights = {}
        for path in sorted(self.model_path.glob("model*.safetensors")):
            weights.update(mx.load(str(path)))
        if hasattr(self.model, "sanitize"):
            weights = self.model.sanitize(weights)
        return [(name, weights[name]) for name in tuned if name in weights]

    def stream(self, side: str, messages: list[dict], sampling: Sampling, system: str | None = None):
        """The answer of one side to a chat, as mlx-lm's GenerationResponses, piece by piece."""
        self.use(side)
        text = format_chat(self.tokenizer, messages, system)
        yield from stream_generate(self.model, self.tokenizer, text, max_tokens=sampling.max_tokens,
                                   sampler=sampler(sampling))

    def answer_all(self, side: str, chats: list[list[dict]], sampling: Sampling, system: str | None = None,
                   done=lambda index, text: None, should_stop=lambda: False) -> list[str] | None:
        """One side's answer to each chat, made BATCH at a time with mlx-lm's BatchGenerator; `done(index, text)` as
        each one ends. None when stopped (seen between tokens)."""
        self.use(side)
        prompts = [self.prompt_tokens(chat, system) for chat in chats]
        generator = BatchGenerator(self.model, stop_tokens=[[t] for t in self.tokenizer.eos_token_ids],
                                   sampler=sampler(sampling), completion_batch_size=BATCH,
                                   prefill_batch_size=min(8, BATCH))
        try:
            uids = generator.insert(prompts, [sampling.max_tokens] * len(prompts))
            index, tokens, texts = {uid: i for i, uid in enumerate(uids)}, {uid: [] for uid in uids}, {}
            while responses := generator.next_generated():
                if should_stop():
                    return None
                for response in responses:
                    if response.finish_reason != "stop":  # the end-of-turn token is not part of the answer
                        tokens[response.uid].append(response.token)
                    if response.finish_reason is not None:
                        texts[response.uid] = self.tokenizer.decode(tokens[response.uid]).strip()
                        done(index[response.uid], texts[response.uid])
        finally:
            generator.close()
        return [texts[uid] for uid in uids]

    def prompt_tokens(self, messages: list[dict], system: str | None = None) -> list[int]:
        """A chat up to the answer as tokens, as mlx-lm's stream_generate makes them (no second BOS)."""
        text = format_chat(self.tokenizer, messages, system)
        bos = self.tokenizer.bos_token
        return self.tokenizer.encode(text, add_special_tokens=bos is None or not text.startswith(bos))

    def answer(self, side: str, messages: list[dict], sampling: Sampling, system: str | None = None) -> str:
        return "".join(piece.text for piece in self.stream(side, messages, sampling, system)).strip()

    def side_by_side(self, messages: list[dict], sampling: Sampling, system: str | None = None, sides=SIDES):
        """(side, text piece, finish reason or None) for each side's answer to the same chat.

        With adapter layers the answers advance one token each in turn; a full fine-tune answers one
        side after the other. Each side's piece stream runs on its own model settings: `use` is called
        before every step, and mlx-lm builds each step's graph during that step.
        """
        streams = {side: self.stream(side, messages, sampling, system) for side in sides}
        if not self.switch_is_cheap:
            for side, pieces in streams.items():
                for piece in pieces:
                    yield side, piece.text, piece.finish_reason
            return
        while streams:
            for side in list(streams):
                self.use(side)
                piece = next(streams[side], None)
                if piece is None:
                    del streams[side]
                    continue
                yield side, piece.text, piece.finish_reason


def sampler(sampling: Sampling):
    """A token sampler with its own random key, so two interleaved answers draw independently."""
    if sampling.temperature == 0:
        return make_sampler(0.0)
    key = mx.random.key(sampling.seed)

    def sample(logprobs):
        nonlocal key
        if sampling.top_p < 1.0:
            logprobs = apply_top_p(logprobs, sampling.top_p)
        key, draw = mx.random.split(key)
        return mx.random.categorical(logprobs * (1 / sampling.temperature), key=draw)

    return sample
