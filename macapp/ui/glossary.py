"""The window's words for technical ideas: what a person reads, what it means, and the technical name behind it, which
the window keeps one hover away (a tooltip). One place, so a chart, a setting and a message say the same thing.
"""

# key: (the window's words, what they mean, the technical name)
TERMS = {
    "tokens": ("tokens", "Tokens are the pieces of words a model reads and writes: a short word is one, a long or rare "
                         "word two or three.", "tokens"),
    "speed": ("tokens a second", "How many tokens (pieces of words) training goes through each second.",
              "tokens/s"),
    "memory_used": ("in use", "The memory the model and its training hold right now.", "MLX active memory"),
    "memory_most": ("most used", "The most memory training has held at any moment so far.", "MLX peak memory"),
    "memory_all": ("all of Tailor", "All the memory the training process holds, with what MLX keeps for reuse.",
                   "process resident set size (RSS)"),
    "rank": ("Adapter size", "How much the adapter can learn: larger learns more and uses more memory.",
             "LoRA rank"),
    "scale": ("Adapter strength", "How strongly the adapter changes the model's answers.", "LoRA scale"),
    "dropout": ("Adapter dropout", "Randomly leaves out some of the adapter's inputs while training; helps with "
                                   "few examples.", "LoRA dropout"),
    "top_p": ("Word choice", "Picks each word only among the likeliest ones that together make up this share; lower "
                             "keeps answers safer, 1 allows any word.", "top-p (nucleus sampling)"),
    "max_tokens": ("Longest answer", "The most tokens (pieces of words) an answer may have.", "max_tokens"),
    "max_seq_length": ("Longest example (tokens)", "Longer examples are cut to this many tokens (pieces of words).",
                       "max_seq_length"),
}


def words(key: str) -> str:
    return TERMS[key][0]


def tip(key: str) -> str:
    """What the words mean, with the technical name at the end, for a tooltip."""
    _, meaning, technical = TERMS[key]
    return f"{meaning} ({technical})"
