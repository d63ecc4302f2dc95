"""mlx-lm's OpenAI-compatible server, serving exactly one model (the tuned one, under the run's name), safe to leave
running: bounded answers, bad requests refused in plain words, only the callers the person allows.

`python -m macapp.engine.export.api_server NAME --model M [--adapter-path A] [--allow-origin O ...] [--max-seconds S]
[--max-requests N] [mlx-lm server flags]`; the API key, when there is one, comes in TAILOR_API_KEY (never on a
command line, where `ps` shows it). /v1/models lists only NAME; a request for any other model gets a 404 naming NAME;
the tokenizer stops at every end-of-turn token of the chat template. /health answers with the token its starter gave
(TAILOR_SERVER_TOKEN), without the key, so the starter knows the server answering is this one; a port it cannot bind
ends it at once. Every request is checked (api_checks.py) before mlx-lm's handler sees it: its Host must name this
server, a web page's Origin must be one allowed, the key must be given when there is one, and its fields must be of
the right types and finite; max_tokens is capped at the model's context, an answer is cut after --max-seconds, an
answer whose client has gone is stopped, and requests beyond --max-requests get 503 with Retry-After.
"""

import argparse
import errno
import functools
import json
import os
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

from mlx_lm import server as mlx_server

from ..data.endpoints import MLX_SERVER_MODEL
from ..models.chat_turns import add_stop_tokens
from . import api_checks
from .api_checks import RequestError
from .serve import CANNOT_BIND

ALIASES = (MLX_SERVER_MODEL,)
MAX_BODY = 2_000_000  # bytes; far beyond any context these models take, and a larger body would pin the server
BACKLOG = 1024  # connections the system holds until a thread takes them; Python's 5 reset a burst of clients
READ_SECONDS = 60  # a client that sends nothing for this long is dropped, so a silent one cannot hold a thread


class OneModelProvider(mlx_server.ModelProvider):
    """mlx-lm's model provider, knowing the model by `name` too, whose tokenizer stops at the template's
    end-of-turn tokens."""

    name = ALIASES[0]

    def __init__(self, cli_args):
        super().__init__(cli_args)
        for names in (self._model_map, self._adapter_map, self._draft_model_map):
            names[self.name] = names[MLX_SERVER_MODEL]

    def _load(self, *args, **kwargs):
        super()._load(*args, **kwargs)
        add_stop_tokens(self.tokenizer)


@dataclass
class Rules:
    """Who may call this server and how much one request may take."""

    origins: tuple[str, ...]  # web pages' origins, with * for anything
    key: str  # "" for none
    seconds: float  # the time an answer may take
    capacity: int  # requests answered or waiting at once
    limits: api_checks.Limits
    slots: threading.BoundedSemaphore = field(init=False)

    def __post_init__(self):
        self.slots = threading.BoundedSemaphore(self.capacity)


class BoundedGenerator(mlx_server.ResponseGenerator):
    """mlx-lm's response generator, refusing a prompt longer than the model's context (`context`, set at start):
    reading it would take minutes and gigabytes while no token comes back to tell that its client has gone."""

    context = api_checks.UNKNOWN_CONTEXT

    def _tokenize(self, tokenizer, request, args):
        tokenized = super()._tokenize(tokenizer, request, args)
        if len(tokenized[0]) > self.context:  # said to the client as a 400, by _Watched.generate
            raise ValueError(f"it is {len(tokenized[0]):,} tokens long, and this model reads at most "
                             f"{self.context:,}. Send a shorter conversation.")
        return tokenized


class _ClientGone(Exception):
    """The client closed its connection: nobody reads the answer, so its generation is stopped."""


class _Answered(BaseException):
    """An error already answered in our words; a BaseException, so mlx-lm's `except Exception` (which would answer
    404 with the bare exception text) lets it through."""


def _gone(connection: socket.socket) -> bool:
    """True once the client has closed its end: the socket reads as ended (a client sends nothing while it waits)."""
    try:
        if not select.select([connection], [], [], 0)[0]:
            return False
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Watched:
    """mlx-lm's response generator as one request sees it: its answer is stopped when its client has gone, and cut
    (finish_reason "length") after the time an answer may take."""

    def __init__(self, generator, handler, seconds: float):
        self.generator, self.handler, self.seconds = generator, handler, seconds

    def __getattr__(self, name):
        return getattr(self.generator, name)

    def generate(self, request, args, progress_callback=None):
        try:
            ctx, responses = self.generator.generate(request, args, progress_callback=progress_callback)
        except Exception as error:  # raised by the generation thread: the chat template, or the model itself
            if not self.generator.generation_available():
                self.handler.send_error_json(RequestError(
                    503, "The model stopped working in the server. Stop the server and start it again; its log "
                         "says why.", "model_failed"))
            else:
                self.handler.send_error_json(RequestError(
                    400, f"The model cannot take this conversation: {str(error)[:300]}", "invalid_conversation"))
            raise _Answered from None
        return ctx, self._watch(ctx, responses)

    def _watch(self, ctx, responses):
        deadline = time.monotonic() + self.seconds
        for response in responses:
            if response.finish_reason is None:
                if _gone(self.handler.connection):
                    ctx.stop()  # the generation thread drops it at its next token
                    raise _ClientGone
                if time.monotonic() > deadline:
                    ctx.stop()
                    response.finish_reason = "length"
            yield response
            if response.finish_reason is not None:
                return


def handler(name: str, rules: Rules):
    """An mlx-lm request handler that knows one model, called `name`, and keeps `rules`."""

    class OneModelHandler(mlx_server.APIHandler):
        timeout = READ_SECONDS

        def _send_json(self, status: int, body: dict, headers: dict | None = None) -> None:
            self._set_completion_headers(status)
            for header, value in (headers or {}).items():
                self.send_header(header, value)
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())
            self.wfile.flush()

        def send_error_json(self, error: RequestError) -> None:
            self._send_json(error.status, error.body(), error.headers)

        def _set_cors_headers(self):
            origin = self.headers.get("Origin")
            if origin is not None and rules.origins:  # an Origin not allowed never gets this far
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Vary", "Origin")
                self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", "Content-Type, Authorization")

        def _refused(self, needs_key: bool = True) -> RequestError | None:
            served = self.response_generator.cli_args
            if not api_checks.host_allowed(self.headers.get("Host"), served.host, served.port):
                return RequestError(403, f"This server answers requests sent to {served.host}:{served.port}, not to "
                                         f"{self.headers.get('Host', '')[:100]!r}.", "wrong_host")
            if not api_checks.origin_allowed(self.headers.get("Origin"), rules.origins):
                return RequestError(403, f"Web pages from {self.headers.get('Origin', '')[:100]} may not use this "
                                         "server. Whoever started it can allow them with --allow-origin.",
                                    "origin_not_allowed")
            if needs_key and rules.key and not api_checks.key_given(self.headers.get("Authorization"), rules.key):
                return RequestError(401, "This server needs its API key: send the header \"Authorization: Bearer "
                                         "KEY\" (an OpenAI client's api_key).", "invalid_api_key",
                                    headers={"WWW-Authenticate": "Bearer"})
            return None

        def _not_found(self, asked: str) -> RequestError:
            return RequestError(404, f"The model {asked!r} is not served here. This server serves one model, your "
                                     f"fine-tuned {name!r}: ask for model {name!r}.", "model_not_found", "model")

        def _model(self) -> dict:
            return {"id": name, "object": "model", "created": self.created, "owned_by": "tailor"}

        def handle_health_check(self):
            healthy = self.response_generator.is_healthy
            self._send_json(200 if healthy else 503, {"status": "ok" if healthy else "unavailable",
                                                      "token": os.environ.get("TAILOR_SERVER_TOKEN", "")})

        def handle_models_request(self):
            asked = self.path.split("?", 1)[0][len("/v1/models"):].strip("/")
            if not asked:
                self._send_json(200, {"object": "list", "data": [self._model()]})
            elif asked == name:
                self._send_json(200, self._model())
            else:
                self.send_error_json(self._not_found(asked))

        def do_OPTIONS(self):
            if refused := self._refused(needs_key=False):  # a browser asks first without the key
                return self.send_error_json(refused)
            self._set_completion_headers(204)
            self.end_headers()

        def do_GET(self):
            if refused := self._refused(needs_key=self.path != "/health"):  # the starter's check needs no key
                return self.send_error_json(refused)
            return super().do_GET()

        def _refuse(self, status: int, message: str, code: str) -> None:
            self.close_connection = True  # the body is not read
            self._send_json(status, {"error": {"message": message, "type": "invalid_request_error", "code": code}})

        def do_POST(self):
            given = self.headers.get("Content-Length")
            length = int(given) if given and given.strip().isdigit() else -1
            if given is None:
                return self._refuse(411, "Send the request's Content-Length.", "length_required")
            if length < 0:
                return self._refuse(400, f"Content-Length {given!r} is not a number of bytes.", "bad_length")
            if length > MAX_BODY:
                return self._refuse(413, f"The request is {length:,} bytes; this server takes at most {MAX_BODY:,}. "
                                         "Send a shorter conversation.", "too_large")
            raw = self.rfile.read(length)  # read before any answer: closing on an unread body resets the connection
            if refused := self._refused():
                return self.send_error_json(refused)
            if not rules.slots.acquire(blocking=False):
                return self.send_error_json(RequestError(
                    503, f"The server is busy with {rules.capacity} requests. Try again in "
                         f"{api_checks.RETRY_SECONDS} seconds.", "busy",
                    headers={"Retry-After": str(api_checks.RETRY_SECONDS)}))
            try:
                if self.path in api_checks.COMPLETION_PATHS:
                    raw = self._checked(raw)
                original, self.rfile = self.rfile, _Replay(raw)
                try:
                    return super().do_POST()
                finally:
                    self.rfile = original
            except RequestError as error:
                self.send_error_json(error)
            finally:
                rules.slots.release()

        def _checked(self, raw: bytes) -> bytes:
            """The body, checked, for this server's one model and its adapter only."""
            body = api_checks.check(api_checks.parse(raw), self.path, rules.limits)
            asked = body.get("model") or name
            if asked != name and asked not in ALIASES:
                raise self._not_found(asked)
            body["model"] = name
            body.pop("adapters", None)  # the adapter is the one this server was started with
            body.pop("draft_model", None)
            raw = json.dumps(body).encode()
            self.headers.replace_header("Content-Length", str(len(raw)))
            return raw

        def handle_completion(self, request, stop_words):
            self.response_generator = _Watched(self.response_generator, self, rules.seconds)
            try:
                super().handle_completion(request, stop_words)
            except (_ClientGone, ConnectionError, TimeoutError):
                self.close_connection = True  # nobody is there to answer

        def handle_one_request(self):
            try:
                super().handle_one_request()
            except _Answered:
                pass

    return OneModelHandler


class _Replay:
    """The request body, read once to check it, handed to mlx-lm's handler as if unread."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self, size: int = -1) -> bytes:
        chunk, self.data = (self.data, b"") if size < 0 else (self.data[:size], self.data[size:])
        return chunk


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = BACKLOG


def _serve(*args, serve=mlx_server._run_http_server, **kwargs) -> None:
    """mlx-lm's HTTP server; one that cannot listen ends the process (mlx-lm's would wait on forever), with its own
    exit code when the port is taken."""
    try:
        serve(*args, **kwargs)
    except OSError as error:
        print(f"Cannot listen: {error}", file=sys.stderr, flush=True)
        os._exit(CANNOT_BIND if error.errno == errno.EADDRINUSE else 1)  # its generation thread keeps the process


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ours = argparse.ArgumentParser(add_help=False)
    ours.add_argument("--allow-origin", action="append", default=[])
    ours.add_argument("--max-seconds", type=float, default=api_checks.ANSWER_SECONDS)
    ours.add_argument("--max-requests", type=int, default=api_checks.MAX_REQUESTS)
    ours.add_argument("--model", required=True)
    mine, theirs = ours.parse_known_args(argv[1:])
    rules = Rules(tuple(mine.allow_origin), os.environ.get("TAILOR_API_KEY", ""), mine.max_seconds,
                  mine.max_requests, api_checks.Limits.of(mine.model))
    OneModelProvider.name = argv[0]
    # mlx-lm's main() parses its own flags, then finds these three by their module names.
    mlx_server.ModelProvider = OneModelProvider
    BoundedGenerator.context = rules.limits.context
    mlx_server.ResponseGenerator = BoundedGenerator
    mlx_server._run_http_server = functools.partial(_serve, handler_class=handler(argv[0], rules),
                                                    server_class=_HTTPServer)
    sys.argv = ["mlx_lm.server", "--model", mine.model, *theirs]
    mlx_server.main()


if __name__ == "__main__":
    main()
