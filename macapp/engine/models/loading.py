"""Read a model folder with mlx-lm, its tokenizer stopping at every end-of-turn token of its chat template.

The one place models are loaded from disk: models (finding and fetching them), training, the demo's builder,
answers and exports all load through it.
"""

from pathlib import Path

from . import chat_turns


def load(path):
    """(model, tokenizer) from a checked folder; the tokenizer stops at every end-of-turn token of its template."""
    from mlx_lm.utils import load as mlx_load

    model, tokenizer = mlx_load(str(path))
    chat_turns.add_stop_tokens(tokenizer)
    return model, tokenizer


def load_tokenizer(path):
    """Only the tokenizer of a checked folder, without loading its weights (stopping as `load`'s does)."""
    from mlx_lm.utils import load_tokenizer as mlx_load_tokenizer

    tokenizer = mlx_load_tokenizer(Path(path))
    chat_turns.add_stop_tokens(tokenizer)
    return tokenizer
