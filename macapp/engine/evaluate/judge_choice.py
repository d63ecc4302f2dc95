"""Which model judges the answers, and what matters to the person: a model server on this Mac and its model, or an
MLX model Tailor loads, found from what a person types or chooses.

Plain Python (no MLX): the window and the command choose a judge here; judge.py does the judging in the worker.
"""

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..data.endpoints import MLX_SERVER_MODEL, base_url
from ..data.recipe import Recipe
from ..errors import InputError

CRITERIA = "answers like the examples: their facts, tone and length"
REPLY_TOKENS = 160
SERVER_WORKERS = 4  # requests at once to a server: Ollama and LM Studio queue or batch them; MLX judges one by one


@dataclass
class Judge:
    """A judge model: `api_model` on the OpenAI-compatible server `endpoint`, or the MLX model `model` loaded in the
    worker; `criteria` is what matters in an answer, in the person's words."""

    endpoint: str | None = None
    api_model: str = MLX_SERVER_MODEL
    model: str | None = None
    criteria: str = CRITERIA

    @classmethod
    def from_dict(cls, values: dict) -> "Judge":
        judge = cls(**{key: value for key, value in values.items() if key in cls.__dataclass_fields__})
        if not judge.endpoint and not judge.model:
            raise InputError("Choose a judge: a model server on this Mac (Ollama, LM Studio, mlx_lm server) or a "
                             "model.")
        judge.criteria = " ".join((judge.criteria or "").split()) or CRITERIA
        return judge

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def name(self) -> str:
        """The judge as a person knows it: the model's name, or the server's address for mlx_lm server's one model."""
        if not self.endpoint:
            return Path(self.model).name
        if self.api_model == MLX_SERVER_MODEL:
            return f"the model served at {base_url(self.endpoint).rsplit('/v1', 1)[0].split('://')[-1]}"
        return self.api_model

    @property
    def where(self) -> str:
        """'on this Mac' for an MLX model or a server here; 'at HOST' for one elsewhere."""
        host = base_url(self.endpoint).split("://")[-1].split("/")[0].rsplit(":", 1)[0] if self.endpoint else ""
        return "on this Mac" if host in ("", "127.0.0.1", "localhost", "[::1]", "0.0.0.0") else f"at {host}"

    @property
    def workers(self) -> int:
        return SERVER_WORKERS if self.endpoint else 1

    def recipe(self) -> Recipe:
        return Recipe(endpoint=self.endpoint, api_model=self.api_model, model=self.model, temperature=0.0,
                      max_tokens=REPLY_TOKENS)


ADDRESS = re.compile(r"^(https?://.+|[\w.-]+:\d+(/.*)?)$")


def find_judge(text: str, served: str | None = None, criteria: str | None = None) -> Judge:
    """The judge a person names: a server's address (with the model `served` there, needed when it serves several),
    a model that a server on this Mac serves (Ollama's "qwen2.5:7b"), or an MLX model folder or hub name."""
    from ..data import endpoints
    from ..models.models import is_repo_id

    text = text.strip()
    criteria = criteria or CRITERIA
    if ADDRESS.match(text):
        names = endpoints.models_of(text)
        if served is None and len(names) > 1:
            raise InputError(f"The server at {text} serves {len(names)} models ({', '.join(names[:6])}). Say which one "
                             "judges (tailor eval --judge-model NAME).")
        if served is not None and served not in names and names != [MLX_SERVER_MODEL]:
            raise InputError(f"The server at {text} does not serve {served!r}; it serves {', '.join(names[:6])}.")
        return Judge(endpoint=endpoints.base_url(text), api_model=served or names[0], criteria=criteria)
    if text == "demo" or Path(text).expanduser().is_dir():
        return Judge(model=text if text == "demo" else str(Path(text).expanduser().resolve()), criteria=criteria)
    for found in endpoints.find():
        for name in found.models:
            if text in (name, name.removesuffix(":latest")):
                return Judge(endpoint=found.url, api_model=name, criteria=criteria)
    if is_repo_id(text):
        return Judge(model=text, criteria=criteria)
    raise InputError(f"No judge called {text!r} was found: no model server on this Mac serves it, and it is not a "
                     "model folder. Start Ollama or LM Studio with that model, or give a server's address (such as "
                     "127.0.0.1:11434) or a model folder.")


