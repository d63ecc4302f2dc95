"""Whether the exported model answers as the model that was tested: the held-out prompts asked again of the GGUF
through llama.cpp, with the same settings, and each answer compared with MLX's by similarity.

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
from .verdict import interval_words, share_interval

SAME_ENOUGH = 0.8  # similarity (difflib's ratio) from which two answers say the same thing
CHECK_FILE = "answers_check.json"
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


def check_gguf(run_dir, gguf_file=None, checkpoint: str = "last", sampling: Sampling | None = None,
               limit: int | None = None, report=lambda event: None, should_stop=lambda: False) -> dict | None:
    """The held-out prompts answered by the tested model (MLX, with its adapter) and by the GGUF; the share answered
    alike, written beside the GGUF. None when stopped."""
    from ..runs import runs

    run_dir = Path(run_dir)
    gguf_file = Path(gguf_file) if gguf_file else latest_gguf(run_dir)
    if not gguf_file.is_file():
        raise InputError(f"{gguf_file}: no such GGUF file. Choose the .gguf file the export made.")
    sampling = sampling or Sampling()
    items = read_prompt_set(run_prompt_set(run_dir)[0], limit)
    tuned = TunedModel(*runs.model_and_adapter(run_dir, checkpoint), report, should_stop)
    chats = [item.messages for item in items]
    report({"type": ev.LOG, "message": "Asking the tested model (MLX) the held-out prompts"})
    mlx = tuned.answer_all("tuned", chats, sampling, should_stop=should_stop)
    prompts = [tuned.prompt_tokens(chat) for chat in chats]
    del tuned
    if mlx is None:
        return None
    report({"type": ev.LOG, "message": f"Asking the GGUF ({gguf_file.name}) the same prompts in llama.cpp"})
    gguf = gguf_answers(gguf_file, prompts, sampling, report, should_stop)
    if should_stop() or len(gguf) < len(items):
        return None
    rows = [{"prompt": item.prompt, "mlx": ours, "gguf": theirs, "similarity": round(similarity(ours, theirs), 4)}
            for item, ours, theirs in zip(items, mlx, gguf)]
    alike = sum(row["similarity"] >= SAME_ENOUGH for row in rows)
    result = {"gguf": str(gguf_file), "count": len(rows), "alike": alike, "interval": share_interval(alike, len(rows)),
              "similarity": sum(row["similarity"] for row in rows) / len(rows), "sampling": sampling.to_dict(),
              "created": time.strftime("%Y-%m-%d %H:%M"), "items": rows}
    result["words"] = words(result)
    write_json_atomic(gguf_file.parent / CHECK_FILE, result)
    return result


def words(result: dict) -> str:
    """'The GGUF answers as the model you tested did on 39 of 40 questions (95% interval 87%-100%).'"""
    said = (f"The GGUF answers as the model you tested did on {result['alike']} of {result['count']} held-out "
            f"questions ({interval_words(*result['interval'])}; the answers are {result['similarity']:.0%} alike on "
            "average).")
    if result["alike"] < 0.8 * result["count"]:
        said += (" That is fewer than it should be: export it again with more bits (such as q8_0), or use the "
                 "standalone model.")
    return said
