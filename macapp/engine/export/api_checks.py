"""What the local API accepts: a request's body and fields, the Host it was sent to, the web page it came from, its key.

Plain checks (no MLX), each failing with a RequestError that says in plain words what is wrong and what to send
instead; api_server.py answers with it before mlx-lm's handler sees the request.
"""

import fnmatch
import hmac
import ipaddress
import json
import math
import socket
from dataclasses import dataclass
from pathlib import Path

from ..words import json_kind

ANSWER_SECONDS = 600  # an answer still going after this long is cut, as if it had reached its token limit
MAX_REQUESTS = 64  # answered or waiting at once; beyond this a request gets 503 and when to try again
RETRY_SECONDS = 5
UNKNOWN_CONTEXT = 32_768  # the token cap for a model whose config names no context length
ALL_ADDRESSES = ("0.0.0.0", "::", "")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
COMPLETION_PATHS = (*CHAT_PATHS, "/v1/completions")
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 503: "server_busy"}
_FLOATS = ("temperature", "top_p", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty",
           "xtc_probability", "xtc_threshold")
_INTS = ("max_tokens", "max_completion_tokens", "top_k", "top_logprobs", "seed", "num_draft_tokens",
         "repetition_context_size", "presence_context_size", "frequency_context_size")
_OBJECTS = ("role_mapping", "chat_template_kwargs", "stream_options", "logit_bias")


class RequestError(ValueError):
    """A request refused: its HTTP status, the words that say why, and the field at fault if one is."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.param, self.headers = status, code, param, headers or {}

    def body(self) -> dict:
        return {"error": {"message": str(self), "type": _TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class Limits:
    """What the served model can take: its context length in tokens and its vocabulary size (None when unknown)."""

    context: int = UNKNOWN_CONTEXT
    vocab: int | None = None

    @classmethod
    def of(cls, model_folder) -> "Limits":
        """The limits written in a model folder's config.json (or its text model's, for a model that sees images)."""
        try:
            config = json.loads((Path(model_folder) / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        config = {**config.get("text_config", {}), **config}
        context = next((config[k] for k in ("max_position_embeddings", "max_sequence_length", "seq_length",
                                            "n_positions", "n_ctx") if isinstance(config.get(k), int)), None)
        vocab = config.get("vocab_size")
        return cls(context if context and context > 0 else UNKNOWN_CONTEXT,
                   vocab if isinstance(vocab, int) and vocab > 0 else None)


def _bad(message: str, param: str | None = None, code: str = "invalid_value") -> RequestError:
    return RequestError(400, message, code, param)


def _non_finite(body: dict) -> tuple[str, float] | None:
    """The first field (as a path like logit_bias.42) holding NaN or an infinity, without recursion: bodies nest."""
    todo = list(body.items())
    while todo:
        path, value = todo.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return path, value
        if isinstance(value, dict):
            todo += ((f"{path}.{key}", item) for key, item in value.items())
        elif isinstance(value, list):
            todo += ((f"{path}[{index}]", item) for index, item in enumerate(value))
    return None


def parse(raw: bytes) -> dict:
    """The JSON object of a request body; NaN, infinities and bodies that are not UTF-8 JSON objects are refused."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _bad(f"The request body is not UTF-8 text (byte {error.start + 1} cannot be read). Send the JSON "
                   "encoded as UTF-8.", code="bad_encoding") from None
    try:
        body = json.loads(text or "{}")
    except json.JSONDecodeError as error:
        raise _bad(f"The request body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}).",
                   code="bad_json") from None
    except RecursionError:
        raise _bad("The request body nests too deeply to read. Send a flatter JSON object.", code="bad_json") from None
    if not isinstance(body, dict):
        raise _bad(f"The request body must be a JSON object ({{...}}), not {json_kind(body)}.", code="bad_json")
    if found := _non_finite(body):
        raise _bad(f"{found[0]} is {found[1]}, which is not a number the model can use. Send a finite number.",
                   found[0].split(".")[0].split("[")[0])
    return body


def _check_numbers(body: dict) -> None:
    for name in (*_FLOATS, *_INTS, "stream", "logprobs", "stop", "tools", *_OBJECTS):
        if name in body and body[name] is None:
            del body[name]  # null means "the default", as clients that send every field mean it
    for name in _FLOATS:
        if name in body and (isinstance(body[name], bool) or not isinstance(body[name], (int, float))):
            raise _bad(f"{name} must be a number, not {json_kind(body[name])}.", name)
        if name in body:
            body[name] = float(body[name])  # mlx-lm takes only a float for some of these
    for name in _INTS:
        if name in body and (isinstance(body[name], bool) or not isinstance(body[name], int)):
            raise _bad(f"{name} must be a whole number, not {json_kind(body[name])}.", name)
    if not 0 <= body.get("seed", 0) < 2 ** 64:
        raise _bad("seed must be a whole number from 0 to 18446744073709551615.", "seed")


def _check_objects(body: dict, limits: Limits) -> None:
    for name in _OBJECTS:
        if name in body and not isinstance(body[name], dict):
            raise _bad(f"{name} must be an object ({{...}}), not {json_kind(body[name])}.", name)
    if not isinstance(body.get("model", ""), str):
        raise _bad(f"model must be the model's name as text, not {json_kind(body['model'])}.", "model")
    if not isinstance(body.get("tools", []), list):
        raise _bad(f"tools must be a list, not {json_kind(body['tools'])}.", "tools")
    stop = body.get("stop", [])
    if not isinstance(stop, str) and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise _bad("stop must be text or a list of texts.", "stop")
    if any(not isinstance(v, str) for v in body.get("role_mapping", {}).values()):
        raise _bad("role_mapping must map each role to text.", "role_mapping")
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options.setdefault("include_usage", False), bool):  # mlx-lm reads it without a default
            raise _bad("stream_options.include_usage must be true or false.", "stream_options")
    for token, bias in body.get("logit_bias", {}).items():
        if not token.lstrip("-").isdigit() or not 0 <= int(token) < (limits.vocab or math.inf):
            raise _bad(f"logit_bias names token {token[:40]!r}; token ids are whole numbers from 0"
                       + (f" to {limits.vocab - 1}." if limits.vocab else "."), "logit_bias")
        if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not -100 <= bias <= 100:
            raise _bad(f"logit_bias for token {token} must be a number from -100 to 100.", "logit_bias")


def _check_part(part, where: str) -> None:
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        raise _bad(f"{where} must be an object with a \"type\", such as {{\"type\": \"text\", \"text\": \"...\"}}.",
                   "messages")
    if part["type"] == "text" and not isinstance(part.get("text"), str):
        raise _bad(f"{where} is of type text, so it needs \"text\": the words.", "messages")
    image = part.get("image_url", part.get("image"))
    url = image.get("url") if isinstance(image, dict) else image
    if isinstance(url, str) and url.lower().startswith(("http:", "https:")):  # mlx-lm would fetch it, of any size
        raise _bad(f"{where} names an image on the web; this server fetches nothing. Send the image itself, as a "
                   "data: URL.", "messages")


def _check_calls(calls, where: str) -> None:
    if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
        raise _bad(f"{where}.tool_calls must be a list of objects.", "messages")
    for index, call in enumerate(calls):
        arguments = call.get("function", {}).get("arguments") if isinstance(call.get("function"), dict) else None
        try:
            if isinstance(arguments, str):
                json.loads(arguments)
        except json.JSONDecodeError:
            raise _bad(f"{where}.tool_calls[{index}].function.arguments is not JSON.", "messages") from None


def _check_messages(messages) -> None:
    if not isinstance(messages, list) or not messages:
        shown = "an empty list" if isinstance(messages, list) else json_kind(messages)
        raise _bad(f"messages must be a list of messages such as [{{\"role\": \"user\", \"content\": \"Hello\"}}], "
                   f"not {shown}.", "messages")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _bad(f"{where} must be an object with a role and content, not {json_kind(message)}.", "messages")
        if not isinstance(message.get("role"), str):
            raise _bad(f"{where} needs a \"role\" (user, assistant or system) as text.", "messages")
        content = message.get("content")
        if isinstance(content, list):
            for number, part in enumerate(content):
                _check_part(part, f"{where}.content[{number}]")
        elif content is not None and not isinstance(content, str):
            raise _bad(f"{where}.content must be text or a list of parts, not {json_kind(content)}.", "messages")
        if message.get("tool_calls") is not None:
            _check_calls(message["tool_calls"], where)


def check(body: dict, path: str, limits: Limits) -> dict:
    """The body of a completion request, its fields checked and max_tokens capped at the model's context."""
    _check_numbers(body)
    _check_objects(body, limits)
    if path in CHAT_PATHS:
        if "messages" not in body:
            raise _bad("The request has no messages. Send \"messages\": [{\"role\": \"user\", \"content\": "
                       "\"Hello\"}].", "messages", "missing")
        _check_messages(body["messages"])
    elif not isinstance(body.get("prompt"), str):
        raise _bad("The request needs a \"prompt\" as text." if "prompt" not in body else
                   f"prompt must be text, not {json_kind(body['prompt'])}.", "prompt")
    for name in ("max_completion_tokens", "max_tokens"):
        if body.get(name, 0) > limits.context:  # more than the model can attend to is an endless answer
            body[name] = limits.context
    return body


def host_allowed(header: str | None, served: str, port: int) -> bool:
    """True when a request's Host names this server (against DNS rebinding: a web page whose name has been pointed at
    127.0.0.1 still sends its own name). A request without one (HTTP/1.0) is let through: browsers always send it."""
    if header is None:
        return True
    header = header.strip().lower()
    if header.startswith("["):  # [IPv6]:port
        name, _, rest = header[1:].partition("]")
        given = rest.removeprefix(":") if rest else "80"
    else:
        name, _, given = header.partition(":") if header.count(":") == 1 else (header, "", "80")
    if not given.isdigit() or int(given) != port:
        return False
    if name in LOOPBACK_NAMES or name == served.lower().strip("[]"):
        return True
    if served not in ALL_ADDRESSES:
        return False
    own = socket.gethostname().lower()
    try:
        return bool(ipaddress.ip_address(name))  # served on every address: any address is one of ours or not ours
    except ValueError:
        return name in (own, f"{own}.local")


def origin_allowed(origin: str | None, allowed) -> bool:
    """True for a request not sent by a web page (no Origin), or by a page whose origin the person allowed; `*` in an
    allowed origin stands for anything, as in http://localhost:*."""
    return origin is None or any(fnmatch.fnmatchcase(origin.lower(), pattern.lower()) for pattern in allowed)


def key_given(header: str | None, key: str) -> bool:
    scheme, _, given = (header or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), key.encode())
