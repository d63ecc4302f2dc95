"""Make chat training data by asking a local model: Ollama, LM Studio, `mlx_lm server`, or MLX directly.

Each finished example is appended (and synced) as it arrives; a run that was stopped or killed
resumes where it left off, without repeating or losing an example.
"""

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import datasets
from . import events as ev
from .errors import DataError, InputError, Problem

FOLLOW_UP_REQUEST = ("Here is a question and its answer.\n\nQuestion: {question}\n\nAnswer: {answer}\n\n"
                     "Write one short follow-up question a curious reader would ask next. "
                     "Reply with the question only.")
GENERATED = "generated.jsonl"


@dataclass
class Source:
    """Where answers come from: an OpenAI-compatible endpoint, or an MLX model loaded here."""

    endpoint: str | None = None
    model: str | None = None
    api_model: str = "default_model"  # mlx_lm server's name for the model it was started with
    temperature: float = 0.7


class EndpointChat:
    """Chat completions from an OpenAI-compatible server (Ollama, LM Studio, mlx_lm server)."""

    def __init__(self, source: Source):
        self.url = source.endpoint.rstrip("/") + "/chat/completions"
        self.source = source

    def __call__(self, messages: list[dict], max_tokens: int) -> str:
        body = json.dumps({"model": self.source.api_model, "messages": messages, "max_tokens": max_tokens,
                           "temperature": self.source.temperature, "stream": False}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:300]
            raise InputError(f"{self.url} answered {error.code}: {detail}. Check the model name "
                             f"(--api-model {self.source.api_model!r}) and that the server serves it.") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            raise InputError(f"Cannot reach {self.url} ({getattr(error, 'reason', error)}). Start the server "
                             "first: `ollama serve`, LM Studio's local server, or `mlx_lm server`.") from None
        try:
            return answer["choices"][0]["message"]["content"].strip()
        except (KeyError, IndexError, TypeError):
            raise InputError(f"{self.url} did not answer like an OpenAI-compatible server: "
                             f"{json.dumps(answer)[:200]}") from None


class MlxChat:
    """Chat completions from an MLX model loaded in this process."""

    def __init__(self, source: Source):
        from .generation import TunedModel

        self.model = TunedModel(source.model)
        self.temperature = source.temperature

    def __call__(self, messages: list[dict], max_tokens: int) -> str:
        from .sampling import Sampling

        return self.model.answer("base", messages, Sampling(temperature=self.temperature, max_tokens=max_tokens))


def _instruction(item) -> str | None:
    if isinstance(item, dict):
        item = item.get("instruction") or item.get("prompt")
    return item.strip() if isinstance(item, str) and item.strip() else None


def read_instructions(path) -> list[str]:
    """Instructions from a JSON array (of strings, or of objects with an instruction or prompt) or lines."""
    path = Path(path)
    if not path.is_file():
        raise DataError([Problem("error", "file not found", str(path), fix="Check the path.")])
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError([Problem("error", f"not valid JSON ({error.msg})", str(path), error.lineno,
                                     fix="Repair the array, or write one instruction per line.")]) from None
        found = [_instruction(item) for item in items]
        bad = [i for i, item in enumerate(found, start=1) if item is None]
        if bad:
            raise DataError([Problem("error", "is not an instruction (text, or an object with 'instruction')",
                                     str(path), i, unit="item", fix="Make each item a string.") for i in bad])
        instructions = found
    else:
        instructions = [line.strip() for line in text.splitlines() if line.strip()]
    if not instructions:
        raise DataError([Problem("error", "no instructions in the file", str(path),
                                 fix="Write one instruction per line, or a JSON array of them.")])
    return instructions


def _done_so_far(path: Path) -> set[int]:
    """Indexes already written; a last line cut short by a kill is removed first."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        with open(path, "r+b") as handle:
            handle.truncate(len(complete))
    return {json.loads(line)["index"] for line in complete.decode("utf-8").splitlines() if line.strip()}


def make_example(ask, instruction: str, follow_up: bool, system: str | None, max_tokens: int) -> list[dict]:
    """The messages of one example: the instruction, its answer, and optionally a second turn."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": instruction}]
    messages.append({"role": "assistant", "content": ask(messages, max_tokens)})
    if follow_up:
        request = FOLLOW_UP_REQUEST.format(question=instruction, answer=messages[-1]["content"])
        question = ask([{"role": "user", "content": request}], 64)
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": ask(messages, max_tokens)})
    return messages


def synthesize(instructions_path, out_dir, source: Source, follow_up: bool = False, system: str | None = None,
               max_tokens: int = 256, report=lambda event: None, should_stop=lambda: False,
               ratios=(0.8, 0.1, 0.1)) -> dict:
    """Generate an example per instruction into out_dir/generated.jsonl, then prepare out_dir."""
    instructions = read_instructions(instructions_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generated = out_dir / GENERATED
    done = _done_so_far(generated)
    todo = [i for i in range(len(instructions)) if i not in done]
    ask = EndpointChat(source) if source.endpoint else MlxChat(source)
    started, total, new = time.monotonic(), len(instructions), 0
    report({"type": ev.PROGRESS, "stage": "examples", "done": len(done), "total": total})
    with open(generated, "a", encoding="utf-8") as handle:
        for index in todo:
            if should_stop():
                return {"examples": len(done) + new, "new": new, "stopped": True}
            messages = make_example(ask, instructions[index], follow_up, system, max_tokens)
            handle.write(json.dumps({"index": index, "messages": messages}, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
            new += 1
            per_example = (time.monotonic() - started) / new
            report({"type": ev.PROGRESS, "stage": "examples", "done": len(done) + new, "total": total,
                    "eta_seconds": round(per_example * (len(todo) - new), 1)})
    manifest = datasets.prepare([generated], out_dir, ratios)
    return {"examples": len(done) + new, "new": new, "stopped": False, "manifest": manifest}
