"""Tiny random-weight models of real families (Llama 3.2, Qwen2.5, Mistral v0.3, Phi-3.5) with their real tokenizers
and chat templates, built offline from the files `make test` extracts into .venv/tokenizers, cached across sessions.
"""

import hashlib
import itertools
import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

# `make test` extracts llama.cpp's vocab files, their test vectors and chat templates (from llama-cpp-python's source
# distribution) and Mistral's SentencePiece model (from mistral_common's wheel) here: no model hub is reachable.
SOURCES = Path(sys.prefix) / "tokenizers"
TEMPLATES = Path(__file__).parent / "templates"  # templates no registry package ships (Mistral v0.3's)
MISTRAL_MODEL = "mistral_instruct_tokenizer_240216.model.v2"

NORMAL, UNKNOWN, CONTROL = 1, 2, 3  # token types, numbered alike in GGUF files and SentencePiece models
TINY = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "intermediate_size": 128, "hidden_act": "silu", "torch_dtype": "bfloat16"}
SEED = 0
# The tests measure top-1 agreement between llama.cpp and MLX: near-ties on flat random logits would make it noisy.
LOGITS_STD = 4.0

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = LLAMA3_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")  # Qwen splits numbers into single digits
# Llama 3.1+ renamed some of Llama 3's reserved tokens; the others are numbered in order.
LLAMA31_NAMED = {128000: "<|begin_of_text|>", 128001: "<|end_of_text|>", 128004: "<|finetune_right_pad_id|>",
                 128006: "<|start_header_id|>", 128007: "<|end_header_id|>", 128008: "<|eom_id|>",
                 128009: "<|eot_id|>", 128010: "<|python_tag|>"}
# Qwen2.5's tokens after Qwen1.5's three (llama.cpp's vocab file is Qwen1.5's; words and merges are the same).
QWEN25_ADDED = ["<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>",
                "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>",
                "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]

FAMILIES = {
    "llama3": {  # Llama 3.2 1B/3B Instruct
        "vocab": "llama-bpe", "template": "meta-llama-Llama-3.2-3B-Instruct.jinja",
        "config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", **TINY, "head_dim": 16,
                   "attention_bias": False, "mlp_bias": False, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
                   "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                    "original_max_position_embeddings": 8192, "rope_type": "llama3"},
                   "max_position_embeddings": 131072, "tie_word_embeddings": True, "vocab_size": 128256,
                   "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]},
        "generation_config": {"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "do_sample": True,
                              "temperature": 0.6, "top_p": 0.9},
    },
    "qwen2": {  # Qwen2.5 0.5B-7B Instruct
        "vocab": "qwen2", "template": "Qwen-Qwen2.5-7B-Instruct.jinja",
        "config": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", **TINY, "rms_norm_eps": 1e-6,
                   "rope_theta": 1000000.0, "max_position_embeddings": 32768, "sliding_window": 32768,
                   "use_sliding_window": False, "max_window_layers": 2, "tie_word_embeddings": True,
                   "vocab_size": 151936, "bos_token_id": 151643, "eos_token_id": 151645},
        "generation_config": {"bos_token_id": 151643, "eos_token_id": [151645, 151643], "pad_token_id": 151643,
                              "do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20,
                              "repetition_penalty": 1.05},
    },
    "mistral": {  # Mistral 7B Instruct v0.3
        "vocab": None, "template": "mistralai-Mistral-7B-Instruct-v0.3.jinja",
        "config": {"architectures": ["MistralForCausalLM"], "model_type": "mistral", **TINY, "rms_norm_eps": 1e-5,
                   "rope_theta": 1000000.0, "max_position_embeddings": 32768, "sliding_window": None,
                   "tie_word_embeddings": False, "vocab_size": 32768, "bos_token_id": 1, "eos_token_id": 2},
        "generation_config": {"bos_token_id": 1, "eos_token_id": 2},
    },
    "phi3": {  # Phi-3.5 mini instruct (with Phi-3 mini 4k's plain RoPE instead of LongRoPE)
        "vocab": "phi-3", "template": "microsoft-Phi-3.5-mini-instruct.jinja",
        "config": {"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", **TINY, "rms_norm_eps": 1e-5,
                   "rope_theta": 10000.0, "rope_scaling": None, "max_position_embeddings": 4096,
                   "original_max_position_embeddings": 4096, "sliding_window": 262144, "tie_word_embeddings": False,
                   "vocab_size": 32064, "bos_token_id": 1, "eos_token_id": 32000, "pad_token_id": 32000},
        # Only <|endoftext|> ends a turn in config.json, as in many conversions: no generation_config.json names
        # <|end|>, so the tests see whether Tailor finds it from the chat template.
        "generation_config": None,
    },
}


def missing_sources() -> list[str]:
    """The extracted files that are not there (all of them outside `make test`)."""
    vocabs = [f"ggml-vocab-{family['vocab']}.gguf" for family in FAMILIES.values() if family["vocab"]]
    needed = [vocab + end for vocab in vocabs for end in ("", ".inp", ".out")]
    needed += [f"templates/{f['template']}" for f in FAMILIES.values() if not (TEMPLATES / f["template"]).exists()]
    return [name for name in needed + [MISTRAL_MODEL] if not (SOURCES / name).exists()]


def read_gguf_metadata(path: Path) -> dict:
    """A GGUF file's key-value metadata (gguf's own reader takes ~15 s on a 128k-token vocabulary; this, ~0.5 s)."""
    data = path.read_bytes()
    magic, version, _, count = struct.unpack_from("<4sIQQ", data)
    if magic != b"GGUF" or version < 2:
        raise ValueError(f"{path}: not a GGUF file of version 2 or later")
    numbers = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8",
               12: "<f8"}

    def value(kind, at):
        if kind == 8:  # string: length, then UTF-8 bytes
            size = struct.unpack_from("<Q", data, at)[0]
            return data[at + 8:at + 8 + size].decode("utf-8"), at + 8 + size
        if kind == 9:  # array: item kind, length, items
            item, size = struct.unpack_from("<IQ", data, at)
            at += 12
            if item in numbers:
                dtype = np.dtype(numbers[item])
                return np.frombuffer(data, dtype, size, at).tolist(), at + size * dtype.itemsize
            items = []
            for _ in range(size):
                one, at = value(item, at)
                items.append(one)
            return items, at
        dtype = np.dtype(numbers[kind])
        return np.frombuffer(data, dtype, 1, at)[0].item(), at + dtype.itemsize

    metadata, at = {}, 24
    for _ in range(count):
        key, at = value(8, at)
        metadata[key], at = value(struct.unpack_from("<I", data, at)[0], at + 4)
    return metadata


def llama_cpp_vectors(vocab: str) -> list[tuple[str, list[int]]]:
    """llama.cpp's tokenizer test vectors for a vocab file: (text, ids the original tokenizer gives without BOS)."""
    texts = (SOURCES / f"ggml-vocab-{vocab}.gguf.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    lines = (SOURCES / f"ggml-vocab-{vocab}.gguf.out").read_text(encoding="utf-8").split("\n")
    return [(text, [int(i) for i in line.split()]) for text, line in zip(texts[:-1], lines[:-1])]


def added_token(content: str, special: bool = True, rstrip: bool = False):
    from tokenizers import AddedToken

    return AddedToken(content, special=special, normalized=False, rstrip=rstrip, lstrip=False, single_word=False)


def add_tokens(tokenizer, added: dict) -> None:
    """Add {id: AddedToken} in id order, checking each lands on its id (they follow the vocabulary or are in it)."""
    for token_id, token in sorted(added.items()):
        (tokenizer.add_special_tokens if token.special else tokenizer.add_tokens)([token])
        if tokenizer.token_to_id(token.content) != token_id:
            raise ValueError(f"{token.content} got id {tokenizer.token_to_id(token.content)}, not {token_id}")


def byte_level_bpe(meta: dict, pattern: str, added: dict, *, ignore_merges: bool, nfc: bool):
    """A GPT-2-style BPE tokenizer (Llama 3, Qwen2) from a llama.cpp vocab file's words and merges."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    words = {token: i for i, (token, kind) in enumerate(zip(meta["tokenizer.ggml.tokens"],
                                                            meta["tokenizer.ggml.token_type"])) if kind == NORMAL}
    merges = [tuple(merge.split(" ")) for merge in meta["tokenizer.ggml.merges"]]
    tokenizer = Tokenizer(models.BPE(words, merges, ignore_merges=ignore_merges))
    tokenizer.normalizer = normalizers.NFC() if nfc else None
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(pattern), "isolated"),
                                                       pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                                                use_regex=False)])
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.decoder = decoders.ByteLevel()
    add_tokens(tokenizer, added)
    return tokenizer


def sentencepiece_merges(model) -> list[tuple[str, str]]:
    """BPE merges that encode like a SentencePiece BPE model: every normal piece made of two normal pieces,
    higher-scored pieces merged first (transformers' converter orders them the same way)."""
    normal = {p.piece: (-p.score, i) for i, p in enumerate(model.pieces) if p.type == NORMAL}
    merges = [(rank, normal[piece[:k]], normal[piece[k:]], piece[:k], piece[k:])
              for piece, rank in normal.items() for k in range(1, len(piece))
              if piece[:k] in normal and piece[k:] in normal]
    return [(left, right) for *_, left, right in sorted(merges)]


def sentencepiece_bpe(model, added: dict, *, add_bos: bool, legacy: bool):
    """The tokenizer.json of a SentencePiece BPE model, in either of the two styles the hub's conversions write."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = {p.piece: i for i, p in enumerate(model.pieces)}
    tokenizer = Tokenizer(models.BPE(vocab, sentencepiece_merges(model), unk_token="<unk>", fuse_unk=True,
                                     byte_fallback=True))
    if legacy:  # SentencePiece's own dummy prefix: a "▁" before every text, even one that starts with a space
        tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    else:  # one only where the text does not start with a space, so "[INST] Hi" gives [INST] ▁Hi as mistral_common
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace("▁", prepend_scheme="first", split=False)
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                           decoders.Strip(" ", 1, 0)])
    if add_bos:
        tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B:1",
                                                                 special_tokens=[("<s>", 1)])
    add_tokens(tokenizer, added)
    return tokenizer


def phi3_sentencepiece_model(meta: dict):
    """Phi-3's tokenizer.model (Llama 2's SentencePiece BPE model) rebuilt from llama.cpp's vocab file: its first
    32,000 tokens with their scores and types; the tokens after them are added tokens (tokenizer.json has them)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = pb.ModelProto()
    trainer, normalizer = model.trainer_spec, model.normalizer_spec
    trainer.model_type, trainer.vocab_size, trainer.unk_id, trainer.bos_id, trainer.eos_id, trainer.pad_id = (
        pb.TrainerSpec.BPE, 32000, 0, 1, 2, -1)
    trainer.byte_fallback, trainer.split_digits = True, True
    normalizer.name, normalizer.add_dummy_prefix, normalizer.remove_extra_whitespaces = "identity", True, False
    normalizer.escape_whitespaces = True
    # llama.cpp's file took <unk> <s> </s> from Phi-3's tokenizer_config (score -1000); the model has them so:
    original = {0: (0.0, UNKNOWN), 1: (0.0, CONTROL), 2: (0.0, CONTROL)}
    for i, piece in enumerate(meta["tokenizer.ggml.tokens"][:32000]):
        score, kind = original.get(i, (meta["tokenizer.ggml.scores"][i], meta["tokenizer.ggml.token_type"][i]))
        model.pieces.add(piece=piece, score=score, type=kind)
    return model


def decoder_entries(added: dict) -> dict:
    """tokenizer_config.json's added_tokens_decoder for {id: AddedToken}."""
    return {str(i): {"content": t.content, "lstrip": False, "normalized": False, "rstrip": t.rstrip,
                     "single_word": False, "special": t.special} for i, t in sorted(added.items())}


def llama3_tokenizer(folder: Path, template: str) -> dict:
    from tokenizers import processors

    reserved = (f"<|reserved_special_token_{n}|>" for n in itertools.count())
    added = {i: added_token(LLAMA31_NAMED.get(i) or next(reserved)) for i in range(128000, 128256)}
    tokenizer = byte_level_bpe(read_gguf_metadata(SOURCES / "ggml-vocab-llama-bpe.gguf"), LLAMA3_PATTERN, added,
                               ignore_merges=True, nfc=False)
    # Llama 3 adds its BOS when encoding; llama.cpp's converter recognises the tokenizer by ids encoded so.
    bos = processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                        pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
                                        special_tokens=[("<|begin_of_text|>", 128000)])
    tokenizer.post_processor = processors.Sequence([processors.ByteLevel(trim_offsets=False), bos])
    tokenizer.save(str(folder / "tokenizer.json"))
    return {"added_tokens_decoder": decoder_entries(added), "bos_token": "<|begin_of_text|>",
            "chat_template": template, "clean_up_tokenization_spaces": True, "eos_token": "<|eot_id|>",
            "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 131072,
            "tokenizer_class": "PreTrainedTokenizerFast"}


def qwen2_tokenizer(folder: Path, template: str) -> dict:
    meta = read_gguf_metadata(SOURCES / "ggml-vocab-qwen2.gguf")
    names = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + QWEN25_ADDED
    # Qwen2.5 marks the tokens from <tool_call> on as not special: decoding keeps them, as text the model writes.
    added = {151643 + n: added_token(name, special=n < names.index("<tool_call>")) for n, name in enumerate(names)}
    byte_level_bpe(meta, QWEN2_PATTERN, added, ignore_merges=False, nfc=True).save(str(folder / "tokenizer.json"))
    return {"add_prefix_space": False, "added_tokens_decoder": decoder_entries(added),
            "additional_special_tokens": [t.content for t in added.values() if t.special][1:],  # not <|endoftext|>
            "bos_token": None, "chat_template": template, "clean_up_tokenization_spaces": False,
            "eos_token": "<|im_end|>", "errors": "replace", "model_max_length": 131072,
            "pad_token": "<|endoftext|>", "split_special_tokens": False, "tokenizer_class": "Qwen2Tokenizer",
            "unk_token": None}


def mistral_tokenizer(folder: Path, template: str) -> dict:
    from sentencepiece import sentencepiece_model_pb2 as pb

    shutil.copyfile(SOURCES / MISTRAL_MODEL, folder / "tokenizer.model")
    model = pb.ModelProto.FromString((folder / "tokenizer.model").read_bytes())
    # <unk>, <s>, </s>, [INST], [/INST], the tool tokens and [control_N]: ids 0-770, special as on the hub
    added = {i: added_token(p.piece) for i, p in enumerate(model.pieces) if p.type in (UNKNOWN, CONTROL)}
    sentencepiece_bpe(model, added, add_bos=True, legacy=False).save(str(folder / "tokenizer.json"))
    return {"add_bos_token": True, "add_eos_token": False, "added_tokens_decoder": decoder_entries(added),
            "bos_token": "<s>", "chat_template": template, "clean_up_tokenization_spaces": False,
            "eos_token": "</s>", "legacy": False, "model_max_length": 1000000000000000019884624838656,
            "pad_token": None, "sp_model_kwargs": {}, "spaces_between_special_tokens": False,
            "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>", "use_default_system_prompt": False}


def phi3_tokenizer(folder: Path, template: str) -> dict:
    meta = read_gguf_metadata(SOURCES / "ggml-vocab-phi-3.gguf")
    model = phi3_sentencepiece_model(meta)
    (folder / "tokenizer.model").write_bytes(model.SerializeToString())
    # As Phi-3.5's tokenizer_config has them: </s> not special; the chat tokens eat the newline after them.
    added = {0: added_token("<unk>"), 1: added_token("<s>"), 2: added_token("</s>", special=False, rstrip=True)}
    added |= {i: added_token(meta["tokenizer.ggml.tokens"][i], rstrip=i > 32000) for i in range(32000, 32011)}
    sentencepiece_bpe(model, added, add_bos=False, legacy=True).save(str(folder / "tokenizer.json"))
    return {"add_bos_token": False, "add_eos_token": False, "added_tokens_decoder": decoder_entries(added),
            "bos_token": "<s>", "chat_template": template, "clean_up_tokenization_spaces": False,
            "eos_token": "<|endoftext|>", "legacy": False, "model_max_length": 131072,
            "pad_token": "<|endoftext|>", "padding_side": "left", "sp_model_kwargs": {},
            "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>", "use_default_system_prompt": False}


# Each writes a family's tokenizer files into a folder and returns its tokenizer_config.json, as the hub's has it.
TOKENIZERS = {"llama3": llama3_tokenizer, "qwen2": qwen2_tokenizer, "mistral": mistral_tokenizer,
              "phi3": phi3_tokenizer}


def template_path(name: str) -> Path:
    own = TEMPLATES / FAMILIES[name]["template"]
    return own if own.exists() else SOURCES / "templates" / FAMILIES[name]["template"]


def write_weights(folder: Path, config: dict) -> None:
    """Random weights from mlx-lm's own model class (so the names are those mlx-lm saves), saved in bfloat16."""
    import mlx.core as mx
    from mlx_lm.utils import _get_classes, save_model

    model_class, args_class = _get_classes(config)
    mx.random.seed(SEED)
    model = model_class(args_class.from_dict(config))
    # Output rows of log-normal norms, as trained models have: a few tokens stand out at each step (top-1
    # probability ~0.9), where equal norms give near-ties among 100k random logits.
    output = model.lm_head if hasattr(model, "lm_head") else model.model.embed_tokens
    output.weight = output.weight * mx.exp(0.5 * mx.random.normal((config["vocab_size"], 1)))
    model.set_dtype(mx.bfloat16)
    # The final norm sets the logits' scale; measured on random tokens, it is brought to LOGITS_STD.
    std = model(mx.random.randint(0, config["vocab_size"], (1, 64))).astype(mx.float32).std().item()
    model.model.norm.weight = (model.model.norm.weight.astype(mx.float32) * (LOGITS_STD / std)).astype(mx.bfloat16)
    save_model(folder, model)


def recipe_hash(name: str) -> str:
    """Changes with this file and with the family's source files, so a cached folder is never stale."""
    digest = hashlib.sha256(Path(__file__).read_bytes() + name.encode())
    vocab = FAMILIES[name]["vocab"]
    sources = [SOURCES / f"ggml-vocab-{vocab}.gguf" if vocab else SOURCES / MISTRAL_MODEL, template_path(name)]
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def build(name: str, cache: Path) -> Path:
    """The model folder of family `name` under `cache`, built on first use and whenever its recipe changes."""
    folder = cache / f"{name}-{recipe_hash(name)}"
    if (folder / "config.json").exists():
        return folder
    scratch = folder.with_name(folder.name + ".building")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    family = FAMILIES[name]
    tokenizer_config = TOKENIZERS[name](scratch, template_path(name).read_text(encoding="utf-8"))
    (scratch / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2, ensure_ascii=False))
    write_weights(scratch, family["config"])
    if family["generation_config"]:
        (scratch / "generation_config.json").write_text(json.dumps(family["generation_config"], indent=2))
    (scratch / "config.json").write_text(json.dumps(family["config"], indent=2))
    for old in cache.glob(f"{name}-*"):
        if old != scratch:
            shutil.rmtree(old, ignore_errors=True)
    scratch.rename(folder)
    return folder
