"""How answers are drawn: temperature, top-p, token limit and seed, shared by both models of a comparison.

Light enough for the window to import: MLX is loaded only when a sampler is made.
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

    def sampler(self):
        """A token sampler with its own random key, so two interleaved answers draw independently."""
        import mlx.core as mx
        from mlx_lm.sample_utils import apply_top_p, make_sampler

        if self.temperature == 0:
            return make_sampler(0.0)
        key = mx.random.key(self.seed)

        def sample(logprobs):
            nonlocal key
            if self.top_p < 1.0:
                logprobs = apply_top_p(logprobs, self.top_p)
            key, draw = mx.random.split(key)
            return mx.random.categorical(logprobs * (1 / self.temperature), key=draw)

        return sample
