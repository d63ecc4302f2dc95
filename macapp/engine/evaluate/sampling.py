"""How answers are drawn: temperature, top-p, token limit and seed, shared by both models of a comparison.

Plain settings the window shows; generation.sampler turns them into MLX's token sampler.
"""

from dataclasses import asdict, dataclass

from ..errors import InputError


@dataclass
class Sampling:
    """How answers are drawn; the same settings serve both models."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 200
    seed: int = 0

    LIMITS = {"temperature": (0.0, 5.0), "top_p": (0.01, 1.0), "max_tokens": (1, 32768), "seed": (0, 2**31 - 1)}

    @classmethod
    def from_dict(cls, values: dict | None) -> "Sampling":
        """Settings from a job or the command line; a value out of range is an InputError naming it."""
        sampling = cls(**{key: value for key, value in (values or {}).items() if key in cls.LIMITS})
        for name, (low, high) in cls.LIMITS.items():
            value = getattr(sampling, name)
            if not isinstance(value, (int, float)) or not low <= value <= high:
                raise InputError(f"Sampling setting {name} is {value!r}; it must be between {low} and {high}.")
        return sampling

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        if self.temperature == 0:
            how = "greedy (the most likely word each time, so the same answer every time)"
        else:
            how = f"temperature {self.temperature:g}, top-p {self.top_p:g}, seed {self.seed}"
        return f"{how}; at most {self.max_tokens} tokens"
