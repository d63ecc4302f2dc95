"""The model that writes made data: an OpenAI-compatible server on this Mac (Ollama, LM Studio, mlx_lm server) or an
MLX model in the worker; each answers a chat with its text and how it ended, and stops within a second when asked.

Nothing waits forever: a server silent for about a minute is said, and an answer that goes on past the tokens asked
for, or past the time limit of an answer, is cut there.
"""

import http.client
import json
import socket
import time
from urllib.parse import urlsplit

from .. import waiting
from ..errors import InputError, RunFailed, Stopped
from ..runs import events as ev
from ..words import json_kind, start_of
from .endpoints import base_url, nothing_answers
from .recipe import Recipe

RETRY_AFTER = 2.0  # one more try after a lost connection or a 5xx: a server busy loading a model drops the first
LINE_MOST = 1 << 20  # bytes of one line of an answer: a longer one is not an OpenAI server's
WHOLE_MOST = 16 << 20  # bytes of an answer given in one piece
INVALID = "that is not a valid address"
START = "Start it (open Ollama or LM Studio and its local server, or run mlx_lm server)"
OPENAI_LIKE = ("check that the address is that of an OpenAI-compatible server (Ollama, LM Studio, mlx_lm server) "
               "serving the model you chose")


class ServerLost(InputError):
    """The server cannot be reached (never was, stopped answering, or cannot answer now); `plain` says so without
    what to do, for messages that say that in their own words."""

    todo = "start the model server again"

    def __init__(self, address: str, why: str):
        self.plain = f"Cannot reach the model server at {address} ({why})."
        super().__init__(f"{self.plain} {START}, then try again.")


class ServerTrouble(RunFailed):
    """A server that took the request but cannot be used: `plain` says what happened, `todo` what to do about it."""

    todo = OPENAI_LIKE

    def __init__(self, plain: str):
        self.plain = plain
        super().__init__(plain, fix=f"{self.todo[0].upper()}{self.todo[1:]}, then try again.")


class ServerSilent(ServerTrouble):
    """The server took a request and then said nothing for the silence limit: it hangs, or is stuck on a model."""

    todo = "check that the model server is running and not stuck (restart it if it is)"

    def __init__(self, address: str, seconds: float):
        super().__init__(f"The model server at {address} took the request but then said nothing for "
                         f"{waiting.seconds_words(seconds)}.")


class WrongAnswer(ServerTrouble):
    """The server answered, but not in the form of an OpenAI-compatible server's answer; `what` says what came."""

    def __init__(self, address: str, what: str):
        super().__init__(f"The model server at {address} answered in a form Tailor cannot read: {what}.")


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


def _began(data: bytes) -> str:
    return start_of(" ".join(data.decode("utf-8", "replace").split()), 120)


class _Unreadable(ValueError):
    """What in an answer is not as an OpenAI-compatible server gives it, in words."""


def _choice(answer) -> dict | None:
    """The first choice of an answer or of a streamed chunk; None for a chunk that has none (only usage)."""
    if not isinstance(answer, dict):
        raise _Unreadable(f"it is {json_kind(answer)}, not a JSON object")
    choices = answer.get("choices")
    if not isinstance(choices, list):
        raise _Unreadable("it has no list of choices")
    if choices and not isinstance(choices[0], dict):
        raise _Unreadable(f"its choice is {json_kind(choices[0])}, not a JSON object")
    return choices[0] if choices else None


def _text(choice: dict, key: str) -> tuple[str, str | None]:
    """The text and finish reason of a choice: of its "message" (an answer in one piece) or "delta" (a chunk)."""
    part = choice.get(key)
    part = {} if part is None else part
    if not isinstance(part, dict):
        raise _Unreadable(f"its {key} is {json_kind(part)}, not a JSON object")
    text, finish = part.get("content"), choice.get("finish_reason")
    text = "" if text is None else text  # None: mlx_lm server's empty answer
    if not isinstance(text, str):
        raise _Unreadable(f"the text of its answer is {json_kind(text)}, not text")
    if finish is not None and not isinstance(finish, str):
        raise _Unreadable(f"its finish_reason is {json_kind(finish)}, not text")
    return text, finish


def _read(data: bytes, key: str) -> tuple[str, str | None] | None:
    """The text and finish reason in an answer (`key` "message") or a streamed chunk ("delta"); None for a chunk of
    neither. _Unreadable says what came when it is not in that form."""
    try:
        answer = json.loads(data)
    except ValueError:
        raise _Unreadable(f"it is not JSON (it began: {_began(data)})") from None
    try:
        choice = _choice(answer)
        return None if choice is None else _text(choice, key)
    except _Unreadable as error:
        raise _Unreadable(f"{error} (it answered: {_began(data)})") from None


def _body(items, deadline: float) -> bytes:
    """The rest of an answer given in one piece; _Unreadable when it goes on past the size or time of an answer."""
    data = bytearray()
    for line in items:
        data += line
        if len(data) > WHOLE_MOST or time.monotonic() > deadline:
            raise _Unreadable(f"its answer did not end (it went on past {WHOLE_MOST >> 20} MB or "
                              f"{waiting.seconds_words(waiting.answer_limit())})")
    return bytes(data)


def _cut(pieces: list[str], report, why: str) -> tuple[str, str]:
    """An answer cut short by Tailor, kept as far as it went and marked as cut (as one the token limit cut)."""
    report({"type": ev.LOG, "level": "warning", "message": f"{why}: its answer was cut there."})
    return "".join(pieces).strip(), "length"


def _overdue(pieces: list[str], report, who: str) -> tuple[str, str]:
    """An answer that went on past the time of an answer, cut there."""
    return _cut(pieces, report, f"{who} was still answering after {waiting.seconds_words(waiting.answer_limit())}")


class EndpointChat:
    """Chat completions from an OpenAI-compatible server, streamed so that a stop is seen between its chunks."""

    def __init__(self, recipe: Recipe, should_stop=lambda: False, report=lambda event: None):
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
        self.recipe, self.should_stop, self.report = recipe, should_stop, report

    def __call__(self, messages: list[dict], max_tokens: int) -> tuple[str, str]:
        body = json.dumps({"model": self.recipe.api_model, "messages": messages, "max_tokens": max_tokens,
                           "temperature": self.recipe.temperature, "stream": True}).encode()
        for attempt in (1, 2):
            try:
                return self._ask(body, max_tokens)
            except _ServerError as error:
                if error.status < 500:
                    raise Refused(error.reason or f"it answered {error.status}") from None
                why = f"it answered {error.status}" + (f": {error.reason}" if error.reason else "")
            except http.client.InvalidURL:
                raise nothing_answers(self.address, INVALID) from None
            except waiting.Silent as silent:  # not asked again: a second minute of silence tells nothing more
                raise ServerSilent(self.address, silent.seconds) from None
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
            time.sleep(min(waiting.POLL, max(end - time.monotonic(), 0)))

    def _ask(self, body: bytes, max_tokens: int) -> tuple[str, str]:
        items = self._items(body)
        deadline = time.monotonic() + waiting.answer_limit()
        try:
            status, streamed = next(items)
            if status >= 400:
                raise _ServerError(status, _said(_body(items, deadline)))
            if not streamed:  # a server that answers in one piece, though asked to stream
                text, finish = _read(_body(items, deadline), "message") or ("", None)
                return text.strip(), finish or "stop"
            return self._streamed(items, max_tokens, deadline)
        except _Unreadable as error:
            raise WrongAnswer(self.address, str(error)) from None
        finally:
            items.close()

    def _streamed(self, items, max_tokens: int, deadline: float) -> tuple[str, str]:
        """The text of a streamed answer, cut at `max_tokens` pieces (a server that goes on past them ignores the
        limit it was given) or at the deadline."""
        pieces, finish, ended = [], "stop", False
        for line in items:
            if time.monotonic() > deadline:
                return _overdue(pieces, self.report, f"The model server at {self.address}")
            data = line.strip()
            if not data.startswith(b"data:"):
                continue  # blank lines between events, comments, event names
            data = data[len(b"data:"):].strip()
            if data == b"[DONE]":
                ended = True
                break
            read = _read(data, "delta")
            if read is None:
                continue  # a chunk with only usage
            if read[0]:
                pieces.append(read[0])
            if len(pieces) > max_tokens:
                return _cut(pieces[:max_tokens], self.report, f"The model server at {self.address} went on past "
                                                              f"the {max_tokens} tokens asked for")
            finish = read[1] or finish
            ended = ended or bool(read[1])
        if not ended:  # the server went away in the middle of the answer: nothing half-made is kept
            raise ConnectionAbortedError("the answer stopped half-way")
        return "".join(pieces).strip(), finish

    def _items(self, body: bytes):
        """(status, whether it streams), then the response's lines as they arrive, read on a thread (waiting.watched)
        so that a stop is seen within a quarter second and a server that goes silent is said; the connection is closed
        when the reading ends, which tells the server to stop writing."""
        kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        connection = kind(self.host, self.port, timeout=waiting.socket_timeout())

        def read(put) -> None:
            connection.request("POST", self.path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            put((response.status, "text/event-stream" in (response.getheader("Content-Type") or "")))
            while line := response.readline(LINE_MOST):
                put(line)

        try:
            yield from waiting.watched(read, self.should_stop)
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
        from ..evaluate.generation import TunedModel

        self.model = TunedModel(recipe.model, report=report)
        self.temperature, self.should_stop, self.report = recipe.temperature, should_stop, report
        self.calls = 0  # each answer its own seed: the same request twice should not give the same list

    def __call__(self, messages: list[dict], max_tokens: int) -> tuple[str, str]:
        from ..evaluate.sampling import Sampling

        pieces, finish = [], "stop"
        self.calls += 1
        sampling = Sampling(temperature=self.temperature, max_tokens=max_tokens, seed=self.calls)
        deadline = time.monotonic() + waiting.answer_limit()
        for piece in self.model.stream("base", messages, sampling):
            if self.should_stop():
                raise Stopped()
            if time.monotonic() > deadline:
                return _overdue(pieces, self.report, "The model")
            pieces.append(piece.text)
            finish = piece.finish_reason or finish
        return "".join(pieces).strip(), finish


def connect(recipe: Recipe, report=lambda event: None, should_stop=lambda: False):
    """The recipe's model, as a function of (messages, max_tokens) to (text, finish reason) that raises Stopped
    within about a second of `should_stop` saying so."""
    return EndpointChat(recipe, should_stop, report) if recipe.endpoint else MlxChat(recipe, report, should_stop)
