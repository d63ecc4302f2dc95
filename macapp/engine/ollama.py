"""An Ollama Modelfile for an exported model, and `ollama create` with a test prompt when Ollama is installed.

The TEMPLATE is derived from the model's own chat template by rendering it around marker strings,
the stop parameters from its end-of-turn tokens; when Ollama is missing, the exact command is shown.
"""

import re
import shutil
import subprocess
from pathlib import Path

from .export import ExportError, staged

DOWNLOAD = "https://ollama.com/download"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*(:[a-z0-9._-]+)?$")
SAMPLING = {"temperature": 0.7, "top_p": 0.9}
SYSTEM, USER, ANSWER = "\u27e6SYSTEM\u27e7", "\u27e6USER\u27e7", "\u27e6ANSWER\u27e7"


def _render(tokenizer, messages: list[dict], generation: bool) -> str:
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=generation, tokenize=False)
    bos = tokenizer.bos_token or ""
    return text[len(bos):] if bos and text.startswith(bos) else text  # llama.cpp adds the BOS itself


def template(tokenizer) -> tuple[str, list[str]]:
    """(Go TEMPLATE, stop strings) equivalent to the tokenizer's chat template for one turn."""
    if not tokenizer.chat_template:
        return "{{ .Prompt }}", [s for s in [tokenizer.eos_token] if s]
    user = [{"role": "user", "content": USER}]
    turn = _render(tokenizer, user, True)
    prompt = turn.replace(USER, "{{ .Prompt }}")
    try:
        with_system = _render(tokenizer, [{"role": "system", "content": SYSTEM}] + user, True)
    except Exception:  # a template that refuses system messages
        with_system = None
    if with_system and with_system.endswith(turn):
        head = with_system[: -len(turn)].replace(SYSTEM, "{{ .System }}")
        system_part = "{{ if .System }}" + head + "{{ end }}"
    elif with_system:
        system_part = ("{{ if .System }}" + with_system.replace(SYSTEM, "{{ .System }}").replace(USER, "{{ .Prompt }}")
                       + "{{ else }}")
        prompt += "{{ end }}"
    else:
        system_part = ""
    answered = _render(tokenizer, user + [{"role": "assistant", "content": ANSWER}], False)
    after = answered.split(ANSWER, 1)[1] if ANSWER in answered else ""
    stops = [s for s in dict.fromkeys([tokenizer.eos_token, after.strip(), turn.split(USER)[0].strip()]) if s]
    return system_part + prompt + "{{ .Response }}" + after, stops


def modelfile(source: Path, tokenizer, system: str | None = None, run: str = "") -> str:
    """The Modelfile text: FROM the GGUF (or fused folder), TEMPLATE, stops, sampling defaults, SYSTEM."""
    go_template, stops = template(tokenizer)
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
    relative = f"./{source.name}" if source.parent == Path(folder) else str(source)
    with staged(path, 10_000, overwrite) as scratch:
        scratch.write_text(modelfile(relative, tokenizer, system, run), encoding="utf-8")
    return path


def check_name(name: str) -> str:
    if not NAME.match(name or ""):
        raise ExportError(f"{name!r} cannot be an Ollama model name: use lowercase letters, digits, '-', '_' and "
                          "'.', optionally with a ':tag', e.g. my-model:latest.")
    return name


def command(name: str, modelfile_path) -> list[str]:
    """The `ollama create` command that makes a model from a Modelfile."""
    return ["ollama", "create", name, "-f", str(modelfile_path)]


def create(name: str, modelfile_path: Path, prompt: str, report=lambda event: None) -> dict:
    """Run `ollama create` and one test prompt when Ollama is installed; otherwise say how to do it."""
    check_name(name)
    command_words = command(name, modelfile_path)
    shown = " ".join(command_words)
    if shutil.which("ollama") is None:
        return {"installed": False, "command": shown, "download": DOWNLOAD}
    report({"type": "log", "message": f"Creating the Ollama model {name}"})
    made = subprocess.run(command_words, capture_output=True, text=True, cwd=modelfile_path.parent, timeout=1800)
    if made.returncode != 0:
        raise ExportError(f"`{shown}` failed: {(made.stderr or made.stdout).strip()[-500:]}. Is the Ollama app "
                          "running?")
    answer = subprocess.run(["ollama", "run", name, prompt], capture_output=True, text=True, timeout=600)
    if answer.returncode != 0:
        raise ExportError(f"Ollama created {name} but could not run it: {answer.stderr.strip()[-500:]}")
    return {"installed": True, "command": shown, "name": name, "answer": answer.stdout.strip()}
