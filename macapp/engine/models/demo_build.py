"""The demo model, built offline on first use: a SentencePiece tokenizer trained on the demo's texts and a tiny Llama
pre-trained on polite, long replies, both from demo.py's recipe, so it answers like a base model.
"""

import shutil
from pathlib import Path

from ..errors import Stopped
from ..files import write_json_atomic
from ..runs import events as ev
from ..train.config import TrainConfig
from .demo import CHAT_TEMPLATE, CORPUS, RECIPE, REPLIES, held_out_comments, model_config, model_folder, read_jsonl


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
