"""The model servers running on this Mac (Ollama, LM Studio, mlx_lm server, any OpenAI-compatible one) and the models
each serves, found on their usual ports; plain HTTP with short timeouts, so the window can ask from a thread.
"""

import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from ..errors import InputError

# Where each app listens unless told otherwise; the first name that answers on a port is the one shown.
USUAL = (("Ollama", "http://127.0.0.1:11434/v1"), ("LM Studio", "http://127.0.0.1:1234/v1"),
         ("mlx_lm server", "http://127.0.0.1:8080/v1"), ("OpenAI-compatible server", "http://127.0.0.1:8000/v1"))
MLX_SERVER_MODEL = "default_model"  # mlx_lm server answers with the model it was started with under this name
LISTING_MOST = 4 << 20  # bytes of a list of models: a server that sends more is not sending a list


@dataclass
class Endpoint:
    name: str
    url: str  # the OpenAI-compatible base, ending in /v1
    models: list[str]

    def words(self) -> str:
        served = ", ".join(self.models[:3]) + (f" and {len(self.models) - 3} more" if len(self.models) > 3 else "")
        return f"{self.name} at {self.url.rsplit('/v1', 1)[0]}" + (f": {served}" if served else "")


class _Endless(ValueError):
    """An answer that goes on past what a list of models takes."""


def _get_json(url: str, timeout: float):
    """The JSON a server answers to a GET: `timeout` for each wait, and the whole answer within a few seconds more
    and LISTING_MOST bytes, so that an answer that never ends is not waited for."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body, deadline = bytearray(), time.monotonic() + timeout + 2
        while chunk := response.read1(1 << 16):
            body += chunk
            if len(body) > LISTING_MOST or time.monotonic() > deadline:
                raise _Endless()
    return json.loads(body) if body.strip() else {}  # mlx_lm server lists an empty cache as an empty body


def base_url(url: str) -> str:
    """The /v1 base of a server address as people type it: with or without http://, /v1 or a trailing slash."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    if url.endswith("/chat/completions"):
        url = url[: -len("/chat/completions")]
    return url if url.endswith("/v1") else url + "/v1"


def models_of(url: str, timeout: float = 2.0) -> list[str]:
    """The models the server at `url` serves (its /v1/models; Ollama's /api/tags when that is empty)."""
    url = base_url(url)
    try:
        listing = _get_json(url + "/models", timeout)
        names = [m["id"] for m in listing.get("data", []) if isinstance(m, dict) and m.get("id")]
        if not names:
            tags = _get_json(url.rsplit("/v1", 1)[0] + "/api/tags", timeout)  # older Ollama
            names = [m["name"] for m in tags.get("models", []) if m.get("name")]
    except urllib.error.HTTPError as error:
        if error.code == 404 and url.endswith("/v1"):  # mlx_lm server before /v1/models existed
            return [MLX_SERVER_MODEL]
        raise InputError(f"The server at {url} answered {error.code} when asked for its models. Check the "
                         "address: it should be an OpenAI-compatible server such as Ollama or LM Studio.") from None
    except http.client.InvalidURL:  # an address with a space or a port that is not a number
        raise nothing_answers(url, "that is not a valid address") from None
    except (urllib.error.URLError, OSError) as error:
        raise nothing_answers(url, str(getattr(error, "reason", error))) from None
    except (ValueError, AttributeError, TypeError) as error:  # not JSON, or not a list of models
        why = "its answer did not end" if isinstance(error, _Endless) else "its list of models is not one"
        raise InputError(f"The server at {url} does not answer like an OpenAI-compatible server ({why}). Check the "
                         "address: it should be Ollama, LM Studio, mlx_lm server or one like them.") from None
    return names or [MLX_SERVER_MODEL]


def nothing_answers(url: str, why: str) -> InputError:
    """The plain refusal of an address no server answers at, or that is not an address."""
    return InputError(f"Nothing answers at {url} ({why}). Start the server first: open Ollama or LM Studio (and "
                      "start its local server), or run mlx_lm server.")


def find(timeout: float = 0.4, usual=USUAL) -> list[Endpoint]:
    """The servers that answer on their usual ports, each with its models; silent about those that do not."""
    found, seen = [], set()
    for name, url in usual:
        if url in seen:
            continue
        try:
            models = models_of(url, timeout)
        except InputError:
            continue
        seen.add(url)
        found.append(Endpoint(name, url, models))
    return found
