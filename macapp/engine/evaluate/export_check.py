"""Whether the exported model answers as the model that was tested: the held-out prompts asked again of the GGUF
through llama.cpp and of the run's Ollama model in Ollama, with the same settings, each answer compared with MLX's.

Two engines round their numbers differently, so answers are compared as texts that say the same (a similarity
threshold), never token by token; the share of prompts answered alike has its 95% interval.
"""

import time
from difflib import SequenceMatcher
from pathlib import Path

from ..errors import InputError
from ..files import write_json_atomic
from ..runs import events as ev
from .evaluation import read_prompt_set, run_prompt_set
from .generation import TunedModel
from .sampling import Sampling
from .intervals import interval_words, share_interval

SAME_ENOUGH = 0.8  # similarity (difflib's ratio) from which two answers say the same thing
ALIKE_ENOUGH = 0.8  # share of questions an export should answer alike: fewer says something was lost
CHECK_FILE = "answers_check.json"
OLLAMA_CHECK_FILE = "answers_check_ollama.json"
CONTEXT = 4096


def latest_gguf(run_dir) -> Path:
    """The GGUF the run exported last; an InputError says how to make one when it has none."""
    found = sorted(Path(run_dir).glob("exports/*/model-*.gguf"), key=lambda path: path.stat().st_mtime)
    if not found:
        raise InputError(f"Run {Path(run_dir).name} has no GGUF yet. Export one first (step 5, or tailor export "
                         f"gguf --run {Path(run_dir).name}), then check it.")
    return found[-1]


def similarity(one: str, other: str) -> float:
    return SequenceMatcher(None, one.strip(), other.strip(), autojunk=False).ratio()


def gguf_answers(gguf_file: Path, prompts: list[list[int]], sampling: Sampling, report, should_stop) -> list[str]:
    """llama.cpp's answer to each prompt (given as the model's own token ids, so both engines read the same)."""
    from ..export.fidelity import open_gguf

    llama = open_gguf(gguf_file, n_ctx=CONTEXT, every_position=False)
    answers = []
    try:
        for number, tokens in enumerate(prompts, start=1):
            if should_stop():
                return []
            made = llama.create_completion(tokens, max_tokens=sampling.max_tokens, temperature=sampling.temperature,
                                           top_p=sampling.top_p, top_k=0, min_p=0.0, repeat_penalty=1.0,
                                           seed=sampling.seed)
            answers.append(made["choices"][0]["text"].strip())
            report({"type": ev.PROGRESS, "stage": "gguf", "done": number, "total": len(prompts),
                    "message": f"The GGUF in llama.cpp: {number} of {len(prompts)} answers"})
    finally:
        llama.close()
    return answers


def ollama_answers(name: str, chats: list[list[dict]], sampling: Sampling, report, should_stop) -> list[str]:
    """Ollama's answer to each chat, through its OpenAI-compatible API (its Modelfile's template, greedy as asked)."""
    from ..data.chat_sources import EndpointChat
    from ..data.recipe import Recipe
    from ..export import ollama

    chat = EndpointChat(Recipe(endpoint=ollama.address(), api_model=name, temperature=sampling.temperature),
                        should_stop, report)
    answers = []
    for number, messages in enumerate(chats, start=1):
        answers.append(chat(messages, sampling.max_tokens)[0])
        report({"type": ev.PROGRESS, "stage": "ollama", "done": number, "total": len(chats),
                "message": f"{name} in Ollama: {number} of {len(chats)} answers"})
    return answers


def _ollama_model(made: tuple[str, Path] | None, report) -> tuple[str, Path] | None:
    """The run's Ollama model (`made`: its name and export folder) when there is one and Ollama answers; else None,
    said in the log."""
    from ..data.endpoints import models_of
    from ..export import ollama

    if made is None:
        return None
    try:
        models_of(ollama.address())
    except InputError:
        report({"type": ev.LOG, "message": f"Ollama is not running, so {made[0]} was not asked: open Ollama and "
                                           "check again to compare it too"})
        return None
    return made


def _compared(items, mlx: list[str], theirs: list[str], key: str) -> dict:
    rows = [{"prompt": item.prompt, "mlx": ours, key: other, "similarity": round(similarity(ours, other), 4)}
            for item, ours, other in zip(items, mlx, theirs)]
    alike = sum(row["similarity"] >= SAME_ENOUGH for row in rows)
    return {"count": len(rows), "alike": alike, "interval": share_interval(alike, len(rows)),
            "similarity": sum(row["similarity"] for row in rows) / len(rows), "items": rows}


def check_gguf(run_dir, gguf_file=None, checkpoint: str = "last", sampling: Sampling | None = None,
               limit: int | None = None, report=lambda event: None, should_stop=lambda: False) -> dict | None:
    """The held-out prompts answered by the tested model (MLX, with its adapter), by the GGUF, and by the run's
    Ollama model when Ollama runs; the share each answers alike, written beside the GGUF (and in the Ollama model's
    export folder). None when stopped."""
    from ..export import ollama
    from ..runs import runs

    run_dir = Path(run_dir)
    made = ollama.recorded(run_dir)
    if gguf_file:
        gguf_file = Path(gguf_file)
        if not gguf_file.is_file():
            raise InputError(f"{gguf_file}: no such GGUF file. Choose the .gguf file the export made.")
    elif not made or list(run_dir.glob("exports/*/model-*.gguf")):
        gguf_file = latest_gguf(run_dir)  # else only an Ollama model, made from the model's folder
    sampling = sampling or Sampling()
    items = read_prompt_set(run_prompt_set(run_dir)[0], limit)
    in_ollama = _ollama_model(made, report)
    if gguf_file is None and in_ollama is None:
        raise InputError(f"Ollama is not running, so the Ollama model of run {run_dir.name} cannot be asked. Open "
                         "Ollama, then check again.")
    tuned = TunedModel(*runs.model_and_adapter(run_dir, checkpoint), report, should_stop)
    chats = [item.messages for item in items]
    report({"type": ev.LOG, "message": "Asking the tested model (MLX) the held-out prompts"})
    mlx = tuned.answer_all("tuned", chats, sampling, should_stop=should_stop)
    prompts = [tuned.prompt_tokens(chat) for chat in chats]
    del tuned
    if mlx is None:
        return None
    result = {"sampling": sampling.to_dict(), "created": time.strftime("%Y-%m-%d %H:%M"), "gguf": None}
    if gguf_file is not None:
        report({"type": ev.LOG, "message": f"Asking the GGUF ({gguf_file.name}) the same prompts in llama.cpp"})
        gguf = gguf_answers(gguf_file, prompts, sampling, report, should_stop)
        if should_stop() or len(gguf) < len(items):
            return None
        result = {**result, **_compared(items, mlx, gguf, "gguf"), "gguf": str(gguf_file)}
        write_json_atomic(gguf_file.parent / CHECK_FILE, {**result, "words": words(result)})
    if in_ollama is not None:
        name, folder = in_ollama
        report({"type": ev.LOG, "message": f"Asking {name} in Ollama the same prompts"})
        asked = {**_compared(items, mlx, ollama_answers(name, chats, sampling, report, should_stop), "ollama"),
                 "name": name}
        result["ollama"] = {**asked, "words": ollama_words(asked)}
        write_json_atomic(folder / OLLAMA_CHECK_FILE, {**result["ollama"], "sampling": result["sampling"],
                                                "created": result["created"]})
    checked = ([result] if result["gguf"] else []) + ([result["ollama"]] if "ollama" in result else [])
    said = [words(result)] if result["gguf"] else []
    if "ollama" in result:
        said.append(result["ollama"]["words"])
    result["words"] = " ".join(said)
    result["passed"] = all(part["alike"] >= ALIKE_ENOUGH * part["count"] for part in checked)
    return result


def words(result: dict) -> str:
    """'The GGUF answers as the model you tested did on 39 of 40 questions (95% interval 87%-100%).'"""
    return _alike_words("The GGUF", result, "export it again with more bits (such as q8_0), or use the standalone "
                                            "model")


def ollama_words(result: dict) -> str:
    return _alike_words(f"{result['name']} in Ollama", result, "export it to Ollama again with more bits (q8_0)")


def _alike_words(who: str, result: dict, fix: str) -> str:
    said = (f"{who} answers as the model you tested did on {result['alike']} of {result['count']} held-out "
            f"questions ({interval_words(*result['interval'])}; the answers are {result['similarity']:.0%} alike on "
            "average).")
    if result["alike"] < ALIKE_ENOUGH * result["count"]:
        said += f" That is fewer than it should be: {fix}."
    return said
