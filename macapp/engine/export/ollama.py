"""An Ollama Modelfile for an exported model, and `ollama create` with a test prompt when Ollama is installed.

The TEMPLATE is derived from the model's own chat template by rendering it around marker strings and
checked against it on a multi-turn chat; the stops are its end-of-turn tokens; Ollama converts the
architectures it knows straight from safetensors; when Ollama is missing, the exact command is shown.
"""

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..files import write_json_atomic
from ..models.chat_turns import AGAIN, ANSWER, SYSTEM, USER, end_of_turn_tokens, render, try_render
from ..runs import events as ev
from .export import ExportError, staged

DOWNLOAD = "https://ollama.com/download"
RECORD = "ollama.json"  # in an export folder: the Ollama model made from it, so that it can be asked again
PORT = 11434
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*(:[a-z0-9._-]+)?$")
SAMPLING = {"temperature": 0.7, "top_p": 0.9}
# Architectures Ollama converts from a safetensors folder itself (its convert package); others go through a GGUF.
IMPORTS = frozenset({"LlamaForCausalLM", "GemmaForCausalLM", "Gemma2ForCausalLM", "Gemma3ForCausalLM",
                     "Phi3ForCausalLM", "Qwen2ForCausalLM"})
# The types `ollama create --quantize` takes, each with the GGUF type Tailor makes where Ollama cannot convert.
QUANTIZE = {"q8_0": "q8_0", "q4_K_M": "Q4_K_M"}
PARITY_CHAT = [{"role": "system", "content": "You answer in one short paragraph."},
               {"role": "user", "content": "What is a sourdough starter?"},
               {"role": "assistant", "content": "Flour and water that wild yeast has made its home."},
               {"role": "user", "content": "How do I feed it?"}]


@dataclass
class Turns:
    """The text a chat template puts before and after each role's message, before the answer it asks for, and
    at the start of a chat that has no system message (a default system prompt, in Llama 3.1 and Qwen 2.5)."""

    user: tuple[str, str]
    assistant: tuple[str, str]
    generation: str
    opening: str = ""
    system: tuple[str, str] | None = None  # None: the template takes no system message in a turn of its own

    def render(self, messages: list[dict]) -> str:
        """The chat as Ollama renders the TEMPLATE built from these pieces (what `go_template` encodes)."""
        out = [] if messages and messages[0]["role"] == "system" else [self.opening]
        for i, message in enumerate(messages):
            role, last = message["role"], i == len(messages) - 1
            if role == "system" and self.system is None:
                continue
            before, after = getattr(self, role)
            out.append(before + message["content"])
            if role == "user":
                out.append(after + (self.generation if last else ""))
            elif role == "system" or not last:
                out.append(after)
        return "".join(out)

    def go_template(self) -> str:
        """Ollama's TEMPLATE (Go text/template over .Messages) for a whole multi-turn chat."""
        opening = (f'{{{{ if ne (index .Messages 0).Role "system" }}}}{self.opening}{{{{ end }}}}'
                   if self.opening else "")
        system = (f"{self.system[0]}{{{{ .Content }}}}{self.system[1]}" if self.system else "")
        return (opening + "{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}"
                + f'{{{{ if eq .Role "system" }}}}{system}'
                + f'{{{{ else if eq .Role "user" }}}}{self.user[0]}{{{{ .Content }}}}{self.user[1]}'
                + f"{{{{ if $last }}}}{self.generation}{{{{ end }}}}"
                + f'{{{{ else if eq .Role "assistant" }}}}{self.assistant[0]}{{{{ .Content }}}}'
                + f"{{{{ if not $last }}}}{self.assistant[1]}{{{{ end }}}}{{{{ end }}}}{{{{ end }}}}")


def _after(text: str, marker: str, piece: str) -> str | None:
    """What follows `piece` right after `marker` in `text`, or None when `piece` does not follow it."""
    tail = text.split(marker, 1)[1] if marker in text else None
    return tail[len(piece):] if tail is not None and tail.startswith(piece) else None


def _shared_start(one: str, other: str, tokenizer) -> str:
    """The text both start with, ending after a whole special token or line (not inside `<|`), unless one of
    them is all of it."""
    common = os.path.commonprefix([one, other])
    if common in (one, other):
        return common
    specials = [str(token) for token in getattr(tokenizer, "added_tokens_decoder", {}).values()]
    return common[:max([common.rfind("\n") + 1] + [common.rfind(t) + len(t) for t in specials if t and t in common])]


def turns(tokenizer) -> Turns | None:
    """The template's pieces, found by rendering marker chats; None when its turns are not separable."""
    if not tokenizer.chat_template:
        return None
    first = [{"role": "user", "content": USER}]
    answered = first + [{"role": "assistant", "content": ANSWER}]
    chat = answered + [{"role": "user", "content": AGAIN}]
    whole, alone = try_render(tokenizer, chat, True), try_render(tokenizer, first, False)
    answered = try_render(tokenizer, answered, False)
    if not (whole and alone and answered and USER in alone and ANSWER in answered):
        return None
    # What ends a message is what the template writes after it both mid-chat and at the end of a chat (where
    # some, like Phi-3's, add the end-of-text token too).
    user_end = _shared_start(alone.split(USER, 1)[1], whole.split(USER, 1)[1], tokenizer)
    answer_end = _shared_start(answered.split(ANSWER, 1)[1], whole.split(ANSWER, 1)[1], tokenizer)
    answer_start = _after(whole, USER, user_end)
    user_start = _after(whole, ANSWER, answer_end)
    generation = _after(whole, AGAIN, user_end)
    if answer_start is None or user_start is None or generation is None:
        return None
    answer_start, user_start = answer_start.split(ANSWER, 1)[0], user_start.split(AGAIN, 1)[0]
    head = whole.split(USER, 1)[0]
    if not head.endswith(user_start):
        return None
    opening = head[: len(head) - len(user_start)]
    found = Turns((user_start, user_end), (answer_start, answer_end), generation, opening)
    rest = whole[len(opening):]
    with_system = try_render(tokenizer, [{"role": "system", "content": SYSTEM}] + chat, True)
    if with_system and SYSTEM in with_system and with_system.endswith(rest):
        found.system = tuple(with_system[: len(with_system) - len(rest)].split(SYSTEM, 1))
    return found


def template(tokenizer) -> tuple[str, list[str], dict]:
    """(Go TEMPLATE, stop strings, parity) for the tokenizer's chat template.

    Parity renders a multi-turn chat with a system prompt both ways: `same` is False, with the reason,
    where Ollama's template language cannot say what the model's template does.
    """
    stops = end_of_turn_tokens(tokenizer)
    found = turns(tokenizer)
    if found is None:
        return "{{ .Prompt }}", stops, {"same": False, "reason": "This model's chat template does not split into "
                                        "one piece per message, which Ollama's templates need: Ollama will send "
                                        "it plain text."}
    chat = PARITY_CHAT if found.system else PARITY_CHAT[1:]
    expected = render(tokenizer, chat, True)
    got = found.render(chat)
    parity = {"same": got == expected, "turns": len(chat), "system": found.system is not None}
    if got != expected:
        at = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        parity["reason"] = f"Ollama's template renders the chat differently from character {at}: {got[at:at + 40]!r} " \
                           f"instead of {expected[at:at + 40]!r}."
    elif not found.system:
        parity["reason"] = ("This model's chat template does not give the system prompt a turn of its own, so "
                            "Ollama's template leaves it out.")
    return found.go_template(), stops, parity


def modelfile(source: Path, tokenizer, system: str | None = None, run: str = "") -> str:
    """The Modelfile text: FROM the GGUF (or fused folder), TEMPLATE, stops, sampling defaults, SYSTEM."""
    go_template, stops, _ = template(tokenizer)
    lines = [f"# Made by Tailor{f' from run {run}' if run else ''}.", f"FROM {source}",
             f'TEMPLATE """{go_template}"""']
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    lines += [f"PARAMETER {key} {value}" for key, value in SAMPLING.items()]
    if system:
        lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"


def write_modelfile(folder, source: Path, tokenizer, system: str | None = None, run: str = "",
                    overwrite: bool = True) -> Path:
    """Modelfile in `folder`, beside the GGUF it names by a relative path so the folder can be moved."""
    path = Path(folder) / "Modelfile"
    relative = "." if source == Path(folder) else f"./{source.name}" if source.parent == Path(folder) else str(source)
    with staged(path, 10_000, overwrite) as scratch:
        scratch.write_text(modelfile(relative, tokenizer, system, run), encoding="utf-8")
    return path


def check_name(name: str) -> str:
    if not NAME.match(name or ""):
        raise ExportError(f"{name!r} cannot be an Ollama model name: use lowercase letters, digits, '-', '_' and "
                          "'.', optionally with a ':tag', e.g. my-model:latest.")
    return name


def default_name(run_name: str) -> str:
    """An Ollama model name made from a run's folder name: without its date, lowercase, other characters as '-'."""
    name = re.sub(r"[^a-z0-9._-]+", "-", re.sub(r"^\d{8}-\d{6}-", "", run_name).lower()).strip("-._")
    return name or "my-model"


def address() -> str:
    """Ollama's OpenAI-compatible base address: OLLAMA_HOST, as Ollama itself reads it, else its usual port here."""
    host = os.environ.get("OLLAMA_HOST", "").strip().removeprefix("http://").rstrip("/") or "127.0.0.1"
    host = host.replace("0.0.0.0", "127.0.0.1")  # listening everywhere: asked here
    return f"http://{host if ':' in host else f'{host}:{PORT}'}/v1"


def record(folder, name: str) -> None:
    """Keep, in the export folder, the name of the Ollama model made from it."""
    write_json_atomic(Path(folder) / RECORD, {"name": name})


def recorded(run_dir) -> tuple[str, Path] | None:
    """The name of the Ollama model made last from the run's exports, with the export folder it was made from."""
    found = sorted(Path(run_dir).glob(f"exports/*/{RECORD}"), key=lambda path: path.stat().st_mtime)
    for path in reversed(found):
        try:
            return check_name(json.loads(path.read_text(encoding="utf-8"))["name"]), path.parent
        except (OSError, ValueError, KeyError, TypeError, ExportError):
            continue
    return None


def imports(config: dict) -> bool:
    """Whether Ollama converts this model's safetensors folder itself."""
    return bool(set(config.get("architectures") or []) & IMPORTS)


def command(name: str, modelfile_path, quantize: str | None = None) -> list[str]:
    """The `ollama create` command that makes a model from a Modelfile (quantized by Ollama when asked)."""
    return ["ollama", "create", name, "-f", str(modelfile_path), *(["--quantize", quantize] if quantize else [])]


def create(name: str, modelfile_path: Path, prompt: str, quantize: str | None = None,
           report=lambda event: None) -> dict:
    """Run `ollama create` and one test prompt when Ollama is installed; otherwise say how to do it."""
    check_name(name)
    command_words = command(name, modelfile_path, quantize)
    shown = " ".join(command_words)
    if shutil.which("ollama") is None:
        return {"installed": False, "command": shown, "download": DOWNLOAD}
    report({"type": ev.LOG, "message": f"Creating the Ollama model {name}"})
    made = subprocess.run(command_words, capture_output=True, text=True, cwd=modelfile_path.parent, timeout=1800)
    if made.returncode != 0:
        raise ExportError(f"`{shown}` failed: {(made.stderr or made.stdout).strip()[-500:]}. Is the Ollama app "
                          "running?")
    answer = subprocess.run(["ollama", "run", name, prompt], capture_output=True, text=True, timeout=600)
    if answer.returncode != 0:
        raise ExportError(f"Ollama created {name} but could not run it: {answer.stderr.strip()[-500:]}")
    record(modelfile_path.parent, name)
    return {"installed": True, "command": shown, "name": name, "answer": answer.stdout.strip()}
