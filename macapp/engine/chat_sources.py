"""The model that writes made data: an OpenAI-compatible server on this Mac (Ollama, LM Studio, mlx_lm server) or an
MLX model loaded in the worker; each answers a chat with its text and whether it ended or was cut off.
"""

import json
import time
import urllib.error
import urllib.request

from .endpoints import base_url
from .errors import InputError
from .recipe import Recipe

RETRY_AFTER = 2.0  # one more try after a dropped connection: a server busy loading a model drops the first
TIMEOUT = 600


class ServerLost(InputError):
    """The server cannot be reached (never was, or stopped answering); the message says how to start it."""


class EndpointChat:
    """Chat completions from an OpenAI-compatible server."""

    def __init__(self, recipe: Recipe):
        self.url = base_url(recipe.endpoint) + "/chat/completions"  # as typed: "localhost:11434" is Ollama's
        self.recipe = recipe

    def _post(self, body: bytes) -> dict:
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.load(response)

    def __call__(self, messages: list[dict], max_tokens: int) -> tuple[str, str]:
        body = json.dumps({"model": self.recipe.api_model, "messages": messages, "max_tokens": max_tokens,
                           "temperature": self.recipe.temperature, "stream": False}).encode()
        for attempt in (1, 2):
            try:
                answer = self._post(body)
                break
            except urllib.error.HTTPError as error:
                detail = error.read().decode("utf-8", "replace")[:300]
                raise InputError(f"The model server at {self.url} answered {error.code}: {detail}. Check that it "
                                 f"serves the model {self.recipe.api_model!r}.") from None
            except (urllib.error.URLError, OSError, ValueError) as error:
                if attempt == 2:
                    raise ServerLost(f"Cannot reach the model server at {self.url} "
                                     f"({getattr(error, 'reason', error)}). Start it (open Ollama or LM Studio and "
                                     "its local server, or run mlx_lm server), then try again.") from None
                time.sleep(RETRY_AFTER)
        try:
            choice = answer["choices"][0]
            text = choice["message"]["content"]
            if text is None:  # mlx_lm server's way of saying the model wrote nothing: an empty answer, flagged later
                text = ""
            return text.strip(), choice.get("finish_reason") or "stop"
        except (KeyError, IndexError, TypeError, AttributeError):
            raise InputError(f"The server at {self.url} does not answer like an OpenAI-compatible server: "
                             f"{json.dumps(answer)[:200]}") from None


class MlxChat:
    """Chat completions from an MLX model loaded in this process."""

    def __init__(self, recipe: Recipe, report=lambda event: None):
        from .generation import TunedModel

        self.model = TunedModel(recipe.model, report=report)
        self.temperature = recipe.temperature
        self.calls = 0  # each answer its own seed: the same request twice should not give the same list

    def __call__(self, messages: list[dict], max_tokens: int) -> tuple[str, str]:
        from .sampling import Sampling

        pieces, finish = [], "stop"
        self.calls += 1
        sampling = Sampling(temperature=self.temperature, max_tokens=max_tokens, seed=self.calls)
        for piece in self.model.stream("base", messages, sampling):
            pieces.append(piece.text)
            finish = piece.finish_reason or finish
        return "".join(pieces).strip(), finish


def connect(recipe: Recipe, report=lambda event: None):
    """The recipe's model, as a function of (messages, max_tokens) to (text, finish reason)."""
    return EndpointChat(recipe) if recipe.endpoint else MlxChat(recipe, report)
