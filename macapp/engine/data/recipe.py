"""What data to make and with which model: the one shape of a data-making job, checked before any model is asked.

Plain data only (no MLX), so the window builds and checks it; the worker, the CLI and a resumed job read the same.
"""

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import InputError
from ..words import THIS_COMPUTER
from .endpoints import MLX_SERVER_MODEL

WAYS = ("topic", "instructions", "documents")
MOST_EXAMPLES, MOST_PER_PASSAGE = 5000, 20  # the fewest of each is 1
# What decides the examples a folder holds; the model and how it answers may change between sessions.
WHAT_IS_MADE = ("way", "topic", "kinds", "count", "instructions", "documents", "per_passage", "follow_up",
                "system")
OTHER_MAKING = ("This folder holds examples made from another topic, file or documents, or with other choices. "
                "Choose another folder, or ask for the same as before to go on.")


@dataclass
class Recipe:
    """way "topic": `count` questions about `topic` (of the kind `kinds` says), written by the model;
    "instructions": the instructions in the file `instructions`; "documents": `per_passage` questions on each passage
    of `documents`, answered from that passage. Answers come from `endpoint` (serving `api_model`) or the MLX
    model `model` loaded in the worker."""

    way: str = "instructions"
    topic: str = ""
    kinds: str = ""
    count: int = 50
    instructions: str | None = None
    documents: list[str] = field(default_factory=list)
    per_passage: int = 3
    follow_up: bool = False
    system: str | None = None
    endpoint: str | None = None
    api_model: str = MLX_SERVER_MODEL
    model: str | None = None
    temperature: float = 0.7
    max_tokens: int = 512

    @classmethod
    def from_dict(cls, values: dict) -> "Recipe":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> "Recipe":
        """Self, when it can be made; else an InputError saying what to fill in."""
        if self.way not in WAYS:
            raise InputError(f"Unknown way to make data {self.way!r}: choose one of {', '.join(WAYS)}.")
        if self.way == "topic" and len(self.topic.strip()) < 3:
            raise InputError("Describe the topic the examples should be about, in a few words.")
        if self.way == "topic" and not 1 <= self.count <= MOST_EXAMPLES:
            raise InputError(f"Ask for between 1 and {MOST_EXAMPLES:,} examples.")
        if self.way == "instructions" and not self.instructions:
            raise InputError("Choose the file with your instructions: one per line, or a JSON list.")
        if self.way == "documents" and not self.documents:
            raise InputError("Choose the documents (PDF, Word, Markdown, text or web pages) or a folder of them.")
        if self.way == "documents" and not 1 <= self.per_passage <= MOST_PER_PASSAGE:
            raise InputError(f"Ask for between 1 and {MOST_PER_PASSAGE} questions on each passage.")
        if bool(self.endpoint) == bool(self.model):
            raise InputError(f"Choose the model that writes the examples: a server on {THIS_COMPUTER} (Ollama, "
                             "LM Studio, mlx_lm server) or an MLX model.")
        if not 16 <= self.max_tokens <= 8192:
            raise InputError("An answer's length must be between 16 and 8,192 tokens.")
        if not 0 <= self.temperature <= 2:
            raise InputError("The temperature must be between 0 and 2.")
        return self

    def subject(self) -> str:
        """What the examples are made from, in a few words: the topic, the instructions' file or the documents."""
        if self.way == "topic":
            return self.topic
        if self.way == "instructions":
            return Path(self.instructions or "").name
        return ", ".join(Path(d).name for d in self.documents)

    def same_making_as(self, kept: dict) -> bool:
        """Whether examples made with `kept` (a recipe's dict) are made from the same as this recipe, so that one
        folder can hold both; the model and how it answers may differ. Spaces around the words do not count."""

        def shape(value):
            return value.strip() if isinstance(value, str) else value

        return all(shape(kept.get(key)) == shape(getattr(self, key)) for key in WHAT_IS_MADE)
