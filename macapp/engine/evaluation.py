"""Generate answers and compare the base model with the tuned one on the same prompts.

Base and tuned answers come from one loaded model: the adapter is applied after the base answers,
so the two are never both held in memory.
"""

from mlx_lm.generate import generate
from mlx_lm.sample_utils import make_sampler
from mlx_lm.tuner.utils import load_adapters

from . import models


def format_prompt(tokenizer, prompt: str, system: str | None = None) -> str:
    return format_chat(tokenizer, [{"role": "user", "content": prompt}], system)


def format_chat(tokenizer, messages: list[dict], system: str | None = None) -> str:
    messages = ([{"role": "system", "content": system}] if system else []) + messages
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def chat(model, tokenizer, messages: list[dict], max_tokens: int = 100, temperature: float = 0.0,
         system: str | None = None) -> str:
    """The next assistant message of a chat, through the model's chat template (greedy by default)."""
    text = format_chat(tokenizer, messages, system)
    return generate(model, tokenizer, text, max_tokens=max_tokens, sampler=make_sampler(temperature)).strip()


def reply(model, tokenizer, prompt: str, max_tokens: int = 100, temperature: float = 0.0,
          system: str | None = None) -> str:
    """One answer to one user prompt."""
    return chat(model, tokenizer, [{"role": "user", "content": prompt}], max_tokens, temperature, system)


def load(model_name: str, adapter_path=None):
    """(model, tokenizer), with the adapter applied when one is given."""
    model, tokenizer = models.load(models.resolve(model_name))
    if adapter_path:
        load_adapters(model, str(adapter_path))
    return model, tokenizer


def ends_with_share(answers: list[str], ending: str) -> float:
    """The share of answers that end with `ending` (the demo's signature)."""
    return sum(a.rstrip().endswith(ending) for a in answers) / len(answers) if answers else 0.0


def compare(model_name: str, adapter_path, prompts: list[str], ending: str, max_tokens: int = 48,
            report=lambda event: None, should_stop=lambda: False) -> dict:
    """Answers of the base and the tuned model to each prompt, and the share ending with `ending`."""
    model, tokenizer = load(model_name)
    result = {}
    for side in ("base", "tuned"):
        if side == "tuned":
            load_adapters(model, str(adapter_path))
        answers = []
        for index, prompt in enumerate(prompts, start=1):
            if should_stop():
                return {**result, "stopped": True}
            answers.append(reply(model, tokenizer, prompt, max_tokens))
            report({"type": "progress", "stage": side, "done": index, "total": len(prompts)})
        result[side] = {"answers": answers, "share": ends_with_share(answers, ending)}
    return {**result, "prompts": prompts, "ending": ending, "stopped": False}
