"""The built-in demo: a tiny Llama model built offline on first use, and its reply-in-my-style task.

The model is built deterministically from the recipe below and the corpus in resources/demo, then
pre-trained on polite, long replies so it answers like a base model; it is rebuilt when either changes.
"""

import hashlib
import json
import shutil
from pathlib import Path

from ..errors import Stopped
from ..files import RESOURCES, data_home, file_digest, write_json_atomic
from ..runs import events as ev
from ..train.config import TrainConfig

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
    return manifest["source_sha256"] == [file_digest(REPLIES)["sha256"]]


def is_demo_file(sources: list[str]) -> bool:
    """Whether `sources` is the demo's replies alone, known by contents as is_demo_data knows them."""
    try:
        same = len(sources) == 1 and Path(sources[0]).stat().st_size == REPLIES.stat().st_size
        return same and file_digest(Path(sources[0])) == file_digest(REPLIES)
    except OSError:
        return False


def eval_settings() -> dict:
    """How the demo is scored: the held-out comments, each answer checked for the signature."""
    return {"prompts": str(HELD_OUT), "check": {"kind": "ends_with", "value": SIGNATURE},
            "sampling": {"max_tokens": 48}}


def ensure_model(report=lambda event: None, should_stop=lambda: False) -> Path:
    """The demo model folder, built on first use and whenever its recipe changes; a stop meanwhile raises Stopped
    and keeps nothing half built."""
    folder = model_folder()
    if (folder / "config.json").exists():
        return folder
    report({"type": ev.LOG, "message": "Building the demo model (first use only, about a minute)"})
    scratch = folder.with_name(folder.name + ".building")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    _build(scratch, report, should_stop)
    if should_stop():
        shutil.rmtree(scratch, ignore_errors=True)
        raise Stopped("The demo model was not built: stopped.")
    for old in folder.parent.glob("demo-*"):
        if old != scratch:
            shutil.rmtree(old, ignore_errors=True)
    scratch.rename(folder)
    return folder


def _train_tokenizer(folder: Path, texts: list[str]):
    import sentencepiece
    from transformers import AutoTokenizer

    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_prefix=str(folder / "tokenizer"), vocab_size=RECIPE["vocab_size"],
        model_type="bpe", byte_fallback=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1, hard_vocab_limit=False, minloglevel=2,
        # As Mistral v0.1's: text kept as written and [INST] as plain text, so that Hugging Face's tokenizer and
        # llama.cpp's (in a GGUF) read every prompt alike.
        normalization_rule_name="identity", remove_extra_whitespaces=False)
    (folder / "tokenizer.vocab").unlink()
    settings = {"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                "add_bos_token": True, "add_eos_token": False, "model_max_length": 512, "chat_template": CHAT_TEMPLATE,
                "legacy": True}  # SentencePiece's own reading (a space before text after <s>), as llama.cpp's
    write_json_atomic(folder / "tokenizer_config.json", settings)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))  # adds tokenizer.json; tokenizer.model stays for GGUF converters
    write_json_atomic(folder / "tokenizer_config.json", settings)  # saving drops `legacy`
    (folder / "chat_template.jinja").unlink(missing_ok=True)  # saving moves the template there; one place is enough
    return len(tokenizer)


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


def _build(folder: Path, report, should_stop) -> None:
    import mlx.core as mx  # here, so the app can read the demo's settings without loading MLX
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama

    from ..train import train_loop
    from . import loading

    corpus, replies = read_jsonl(CORPUS), read_jsonl(REPLIES)
    texts = [m["content"] for row in corpus + replies for m in row["messages"]] + held_out_comments()
    config = model_config(_train_tokenizer(folder, texts))
    mx.random.seed(RECIPE["seed"])
    model = llama.Model(llama.ModelArgs.from_dict(config))
    mx.save_safetensors(str(folder / "model.safetensors"), dict(tree_flatten(model.parameters())))
    write_json_atomic(folder / "config.json", config)
    model, tokenizer = loading.load(folder)  # the tokenizer exactly as every later user of the folder sees it

    def progress(event):
        if event["type"] == ev.TRAIN:
            report({"type": ev.LOG, "message": f"Pre-training the demo model: step {event['iteration']} "
                                              f"of {event['total']}, loss {event['train_loss']:.3f}"})

    pretrain = RECIPE["pretrain"]
    settings = TrainConfig(model="demo", data=str(CORPUS), fine_tune_type="full", iters=pretrain["iters"],
                           batch_size=pretrain["batch_size"], learning_rate=pretrain["learning_rate"],
                           steps_per_report=50, save_every=pretrain["iters"], max_seq_length=256,
                           seed=RECIPE["seed"])
    scratch = folder / "pretraining"
    train_loop.run_loop(model, tokenizer, settings, corpus, [], scratch, progress, should_stop)
    shutil.rmtree(scratch)
    mx.save_safetensors(str(folder / "model.safetensors"), dict(tree_flatten(model.parameters())))
