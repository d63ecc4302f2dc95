"""The built-in demo: its reply-in-my-style task (data, settings, how it is scored) and the recipe of its tiny Llama.

Plain names and files, for the window too; demo_build.py builds the model from the recipe and the corpus in
resources/demo on first use, and again when either changes.
"""

import functools
import hashlib
import json
from pathlib import Path

from ..files import RESOURCES, data_home, file_digest

DEMO_DIR = RESOURCES / "demo"
CORPUS = DEMO_DIR / "polite_corpus.jsonl"
REPLIES = DEMO_DIR / "replies.jsonl"
HELD_OUT = DEMO_DIR / "held_out_comments.jsonl"
SIGNATURE = "-- Sam, Tiny Kitchen"
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}[INST] {{ message['content'] }} [/INST]"
    "{% elif message['role'] == 'assistant' %} {{ message['content'] }}{{ eos_token }}{% endif %}"
    "{% endfor %}"
)
RECIPE = {
    "version": 2,
    "vocab_size": 800,
    "hidden_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    "seed": 0,
    "pretrain": {"iters": 300, "batch_size": 8, "learning_rate": 1e-3},
}


def recipe_hash() -> str:
    digest = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode() + CHAT_TEMPLATE.encode())
    for path in (CORPUS, REPLIES, HELD_OUT):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def held_out_comments() -> list[str]:
    return [row["prompt"] for row in read_jsonl(HELD_OUT)]


def preference_pairs() -> list[dict]:
    """The demo taught by choosing: each comment with its short, signed reply as the better answer and a long,
    unsigned polite answer (of the corpus the demo model learnt to write from) as the worse one."""
    polite = [chat["messages"][-1]["content"] for chat in read_jsonl(CORPUS)]
    return [{"prompt": chat["messages"][0]["content"], "chosen": chat["messages"][-1]["content"],
             "rejected": polite[index % len(polite)]} for index, chat in enumerate(read_jsonl(REPLIES))]


def train_settings(data) -> dict:
    """The demo task's settings: 200 LoRA steps (rank 16) on every layer, prompt masked."""
    return {"model": "demo", "data": str(data), "iters": 200, "batch_size": 8, "learning_rate": 1e-3,
            "num_layers": -1, "mask_prompt": True, "steps_per_report": 10, "steps_per_eval": 50,
            "val_batches": -1, "save_every": 50, "max_seq_length": 256,
            "lora_parameters": {"rank": 16, "dropout": 0.0, "scale": 10.0}}


def is_demo_data(run_dir) -> bool:
    """Whether a run trained on the demo's own replies (whose held-out comments it can be scored on), known by their
    contents: the app may have moved since (macOS runs a downloaded app from a random place until it is moved)."""
    try:
        manifest = json.loads((Path(run_dir) / "data" / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if "source_sha256" not in manifest:  # prepared before the contents were kept
        return manifest.get("sources") == [str(REPLIES.resolve())]
    return manifest["source_sha256"] == [replies_digest()["sha256"]]


def is_demo_file(sources: list[str]) -> bool:
    """Whether `sources` is the demo's replies alone, known by contents as is_demo_data knows them."""
    try:
        same = len(sources) == 1 and Path(sources[0]).stat().st_size == replies_digest()["bytes"]
        return same and file_digest(Path(sources[0]))["sha256"] == replies_digest()["sha256"]
    except OSError:
        return False


@functools.cache
def replies_digest() -> dict:
    """The demo replies' size and SHA-256, read once: the app's own files do not change while it runs."""
    return file_digest(REPLIES)


def eval_settings() -> dict:
    """How the demo is scored: the held-out comments, each answer checked for the signature."""
    return {"prompts": str(HELD_OUT), "check": {"kind": "ends_with", "value": SIGNATURE},
            "sampling": {"max_tokens": 48}}


def model_config(vocab: int = RECIPE["vocab_size"]) -> dict:
    """The demo model's config.json; before the model is built, with the recipe's vocabulary size."""
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab,
        "hidden_size": RECIPE["hidden_size"], "num_hidden_layers": RECIPE["num_hidden_layers"],
        "num_attention_heads": RECIPE["num_attention_heads"], "num_key_value_heads": RECIPE["num_attention_heads"],
        "intermediate_size": RECIPE["intermediate_size"], "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "max_position_embeddings": 512, "tie_word_embeddings": True, "hidden_act": "silu",
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
    }


def model_folder() -> Path:
    return data_home() / "models" / f"demo-{recipe_hash()}"
