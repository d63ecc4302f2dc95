"""mlx-lm's OpenAI-compatible server, serving exactly one model: the tuned one, under the run's name.

`python -m macapp.engine.api_server NAME --model M [--adapter-path A] [mlx-lm server flags]`. /v1/models lists
only NAME; a request for any other model gets a 404 naming NAME, so the base model is never served by
accident; the tokenizer stops at every end-of-turn token of the chat template. /health answers with the token
its starter gave (TAILOR_SERVER_TOKEN), so the starter knows the server answering is this one; a port it cannot
bind ends it at once.
"""

import errno
import functools
import json
import os
import sys

from mlx_lm import server as mlx_server

from .chat_turns import add_stop_tokens
from .endpoints import MLX_SERVER_MODEL
from .serve import CANNOT_BIND

ALIASES = (MLX_SERVER_MODEL,)
MAX_BODY = 2_000_000  # bytes; far beyond any context these models take, and a larger body would pin the server


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


def handler(name: str):
    """An mlx-lm request handler that knows one model, called `name`."""

    class OneModelHandler(mlx_server.APIHandler):
        def _send_json(self, status: int, body: dict) -> None:
            self._set_completion_headers(status)
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())
            self.wfile.flush()

        def _not_found(self, asked: str) -> None:
            self._send_json(404, {"error": {
                "message": f"The model {asked!r} is not served here. This server serves one model, your "
                           f"fine-tuned {name!r}: ask for model {name!r}.",
                "type": "invalid_request_error", "param": "model", "code": "model_not_found"}})

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
                self._not_found(asked)

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
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw.decode() or "{}")
            except (UnicodeDecodeError, json.JSONDecodeError):
                body = None  # mlx-lm answers malformed bodies itself
            if isinstance(body, dict):
                asked = body.get("model") or name
                if asked != name and asked not in ALIASES:
                    return self._not_found(str(asked))
                body["model"] = name
                body.pop("adapters", None)  # the adapter is the one this server was started with
                body.pop("draft_model", None)
                raw = json.dumps(body).encode()
                self.headers.replace_header("Content-Length", str(len(raw)))
            original, self.rfile = self.rfile, _Replay(raw)
            try:
                return super().do_POST()
            finally:
                self.rfile = original

    return OneModelHandler


class _Replay:
    """The request body, read once to check the model, handed to mlx-lm's handler as if unread."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self, size: int = -1) -> bytes:
        chunk, self.data = (self.data, b"") if size < 0 else (self.data[:size], self.data[size:])
        return chunk


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
    OneModelProvider.name = argv[0]
    # mlx-lm's main() parses its own flags, then finds these two by their module names.
    mlx_server.ModelProvider = OneModelProvider
    mlx_server._run_http_server = functools.partial(_serve, handler_class=handler(argv[0]))
    sys.argv = ["mlx_lm.server", *argv[1:]]
    mlx_server.main()


if __name__ == "__main__":
    main()
