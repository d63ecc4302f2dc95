"""The model that writes made data: an OpenAI-compatible server on this Mac (Ollama, LM Studio, mlx_lm server) or an
MLX model in the worker; each answers a chat with its text and how it ended, and stops within a second when asked.
"""

import http.client
import json
import queue
import socket
import threading
import time
from urllib.parse import urlsplit

from .endpoints import base_url, nothing_answers
from .errors import InputError, Stopped
from .recipe import Recipe

RETRY_AFTER = 2.0  # one more try after a lost connection or a 5xx: a server busy loading a model drops the first
TIMEOUT = 600
POLL = 0.25  # seconds between looks at whether to stop, while the server is silent
INVALID = "that is not a valid address"
START = "Start it (open Ollama or LM Studio and its local server, or run mlx_lm server)"


class ServerLost(InputError):
    """The server cannot be reached (never was, stopped answering, or cannot answer now); `plain` says so without
    what to do, for messages that say that in their own words."""

    def __init__(self, address: str, why: str):
        self.plain = f"Cannot reach the model server at {address} ({why})."
        super().__init__(f"{self.plain} {START}, then try again.")


class Refused(InputError):
    """The server refused one request (a 4xx, such as a passage too long for the model); `reason` is its own words."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"The model server refused it: {reason}")


def _said(body: bytes) -> str:
    """The server's own words for an error: the message of an OpenAI error, or a short text; '' when it gave none
    (never a JSON dump or a web page)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        error = json.loads(text).get("error")
        text = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        pass
    text = " ".join(str(text or "").split())
    if text.startswith(("{", "[", "<")):
        return ""
    return text if len(text) <= 300 else text[:297] + "..."


def _why(error: Exception) -> str:
    """What went wrong with a connection, in plain words."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "it did not answer in time"
    if isinstance(error, socket.gaierror):
        return "no computer has that name"
    if isinstance(error, (http.client.HTTPException, ConnectionError)):
        return "it closed the connection"
    return (getattr(error, "strerror", None) or "the connection failed").lower()


class _ServerError(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class EndpointChat:
    """Chat completions from an OpenAI-compatible server, streamed so that a stop is seen between its chunks."""

    def __init__(self, recipe: Recipe, should_stop=lambda: False):
        base = base_url(recipe.endpoint)  # as typed: "localhost:11434" is Ollama's
        self.address = base.rsplit("/v1", 1)[0]
        try:
            parts = urlsplit(base)
            self.host, self.port, self.path = parts.hostname, parts.port, parts.path + "/chat/completions"
        except ValueError:  # a port that is not a number
            raise nothing_answers(self.address, INVALID) from None
        if not self.host or any(c.isspace() or not c.isprintable() for c in base):
            raise nothing_answers(self.address, INVALID)
        self.https = parts.scheme == "https"
        self.recipe, self.should_stop = recipe, should_stop

    def __call__(self, messages: list[dict], max_tokens: int) -> tuple[str, str]:
        body = json.dumps({"model": self.recipe.api_model, "messages": messages, "max_tokens": max_tokens,
                           "temperature": self.recipe.temperature, "stream": True}).encode()
        for attempt in (1, 2):
            try:
                return self._ask(body)
            except _ServerError as error:
                if error.status < 500:
                    raise Refused(error.reason or f"it answered {error.status}") from None
                why = f"it answered {error.status}" + (f": {error.reason}" if error.reason else "")
            except http.client.InvalidURL:
                raise nothing_answers(self.address, INVALID) from None
            except (OSError, http.client.HTTPException) as error:
                why = _why(error)
            if attempt == 2:
                raise ServerLost(self.address, why)
            self._wait(RETRY_AFTER)

    def _wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.should_stop():
                raise Stopped()
            time.sleep(min(POLL, max(end - time.monotonic(), 0)))

    def _ask(self, body: bytes) -> tuple[str, str]:
        items = self._items(body)
        try:
            status, streamed = next(items)
            if status >= 400:
                raise _ServerError(status, _said(b"".join(items)))
            if not streamed:  # a server that answers in one piece, though asked to stream
                return self._whole(json.loads(b"".join(items)))
            pieces, finish, ended = [], "stop", False
            for line in items:
                data = line.strip()
                if not data.startswith(b"data:"):
                    continue  # blank lines between events, comments, event names
                data = data[len(b"data:"):].strip()
                if data == b"[DONE]":
                    ended = True
                    break
                choice = self._choice(json.loads(data))
                if choice is None:
                    continue  # a chunk with only usage
                pieces.append((choice.get("delta") or {}).get("content") or "")
                finish = choice.get("finish_reason") or finish
                ended = ended or bool(choice.get("finish_reason"))
            if not ended:  # the server went away in the middle of the answer: nothing half-made is kept
                raise ConnectionAbortedError("the answer stopped half-way")
            return "".join(pieces).strip(), finish
        except ValueError:
            raise InputError(f"The server at {self.address} does not answer like an OpenAI-compatible server. Check "
                             "the address: it should be Ollama, LM Studio, mlx_lm server or one like them.") from None
        finally:
            items.close()

    def _choice(self, answer: dict) -> dict | None:
        choices = answer.get("choices") if isinstance(answer, dict) else None
        if choices is None or not isinstance(choices, list):
            raise ValueError("no choices")
        return choices[0] if choices else None

    def _whole(self, answer: dict) -> tuple[str, str]:
        choice = self._choice(answer) or {}
        text = (choice.get("message") or {}).get("content") or ""  # None: mlx_lm server's empty answer
        return text.strip(), choice.get("finish_reason") or "stop"

    def _items(self, body: bytes):
        """(status, whether it streams), then the response's lines as they arrive. A thread reads them, so that a
        stop is seen within POLL seconds even while the server is silent (loading a model, reading a long prompt);
        the connection is closed when the reading ends, which tells the server to stop writing."""
        kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        connection = kind(self.host, self.port, timeout=TIMEOUT)
        arrived: queue.Queue = queue.Queue()

        def read():
            try:
                connection.request("POST", self.path, body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                streams = "text/event-stream" in (response.getheader("Content-Type") or "")
                arrived.put((response.status, streams))
                for line in response:
                    arrived.put(line)
                arrived.put(None)
            except Exception as error:  # handed to the asking thread, which says what it means
                arrived.put(error)

        threading.Thread(target=read, daemon=True).start()
        try:
            while True:
                try:
                    item = arrived.get(timeout=POLL)
                except queue.Empty:
                    if self.should_stop():
                        raise Stopped() from None
                    continue
                if item is None:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            if connection.sock is not None:
                try:
                    connection.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            connection.close()


class MlxChat:
    """Chat completions from an MLX model loaded in this process."""

    def __init__(self, recipe: Recipe, report=lambda event: None, should_stop=lambda: False):
        from .generation import TunedModel

        self.model = TunedModel(recipe.model, report=report)
        self.temperature, self.should_stop = recipe.temperature, should_stop
        self.calls = 0  # each answer its own seed: the same request twice should not give the same list

    def __call__(self, messages: list[dict], max_tokens: int) -> tuple[str, str]:
        from .sampling import Sampling

        pieces, finish = [], "stop"
        self.calls += 1
        sampling = Sampling(temperature=self.temperature, max_tokens=max_tokens, seed=self.calls)
        for piece in self.model.stream("base", messages, sampling):
            if self.should_stop():
                raise Stopped()
            pieces.append(piece.text)
            finish = piece.finish_reason or finish
        return "".join(pieces).strip(), finish


def connect(recipe: Recipe, report=lambda event: None, should_stop=lambda: False):
    """The recipe's model, as a function of (messages, max_tokens) to (text, finish reason) that raises Stopped
    within about a second of `should_stop` saying so."""
    return EndpointChat(recipe, should_stop) if recipe.endpoint else MlxChat(recipe, report, should_stop)
