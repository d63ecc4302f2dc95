"""A local OpenAI-compatible API for a fine-tuned model: mlx-lm's server, on 127.0.0.1 unless asked otherwise.

The server (api_server.py) runs as a child process and serves only the tuned model, under the run's name;
`Server` checks that its port is free, starts it, waits until /health answers with this start's own token (so
another server on the port is never taken for it), gives ready-to-copy examples, and stops it. Served beyond
127.0.0.1 it always needs an API key (one is made when none is given); web pages may call it only from the origins
allowed.
"""

import errno
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from .. import bundle
from ..check import blas
from ..errors import Stopped
from .api_checks import ANSWER_SECONDS, MAX_REQUESTS
from .api_checks import LOOPBACK_NAMES as LOOPBACK
from .export import ExportError

CANNOT_BIND = 3  # the server's exit code when its port cannot be had


def model_id(adapter_path) -> str:
    """The name clients ask for: the run's name (the folder that holds the adapter), else 'tuned-model'."""
    if not adapter_path:
        return "model"
    folder = Path(adapter_path).resolve()
    run = next((p for p in (folder, *folder.parents) if (p / "config.yaml").exists()), None)
    return run.name if run else "tuned-model"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def check_port(host: str, port: int) -> None:
    """Refuse an address this computer does not have, or a port something already listens on, naming it and the fix,
    before minutes of loading a model. The address is found as mlx-lm's server finds it."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE)[0]
    except socket.gaierror:
        raise ExportError(f"{host} is not a name or address this computer knows. Serve on 127.0.0.1 (the "
                          "default).") from None
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server's own socket: a port only
        try:  # left in TIME_WAIT by a server just stopped is free
            probe.bind(address)
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise ExportError(f"Cannot serve on {host}:{port}: {error.strerror}. Serve on 127.0.0.1 (the "
                                  "default), or an address of this computer.") from None
            raise ExportError(f"Port {port} is already in use on this computer (by another program, or another "
                              f"served model). Choose another port, for example --port {port + 1}, or stop the "
                              "other one.") from None


def check_host(host: str, allow_remote: bool) -> None:
    if host not in LOOPBACK and not allow_remote:
        raise ExportError(f"Serving on {host} would let other computers on the network use this model. Serve on "
                          "127.0.0.1 (the default), or pass --allow-remote if that is what you want.")


def new_key() -> str:
    return secrets.token_urlsafe(24)


def examples(url: str, name: str, api_key: str | None = None) -> dict:
    """A curl command and a Python snippet that talk to the server, ready to copy."""
    body = json.dumps({"model": name, "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 100})
    key_header = f" -H 'Authorization: Bearer {api_key}'" if api_key else ""
    return {
        "curl": f"curl {url}/v1/chat/completions -H 'Content-Type: application/json'{key_header} -d '{body}'",
        "python": ("from openai import OpenAI\n"
                   f"client = OpenAI(base_url=\"{url}/v1\", api_key=\"{api_key or 'not-needed'}\")\n"
                   f"reply = client.chat.completions.create(model=\"{name}\", "
                   "messages=[{\"role\": \"user\", \"content\": \"Hello!\"}])\n"
                   "print(reply.choices[0].message.content)"),
    }


class Server:
    """The server for a model folder and an optional adapter, as a child process; `name` is the model's id.
    `api_key` (made when serving beyond 127.0.0.1 without one) is then asked of every request; `allow_origins` are
    the web pages that may call it; an answer is cut after `max_seconds`; beyond `max_requests` at once, 503."""

    def __init__(self, model_path: Path, adapter_path: Path | None = None, host: str = "127.0.0.1",
                 port: int | None = None, allow_remote: bool = False, log: Path | None = None, *,
                 api_key: str | None = None, allow_origins=(), max_seconds: float = ANSWER_SECONDS,
                 max_requests: int = MAX_REQUESTS):
        check_host(host, allow_remote)
        if max_seconds <= 0 or max_requests < 1:
            raise ExportError("The time an answer may take must be above 0 seconds, and at least one request must be "
                              "let in at a time.")
        self.host, self.port = host, port or free_port(host if host in LOOPBACK else "0.0.0.0")
        self.name = model_id(adapter_path)
        check_port(host, self.port)
        self.token = secrets.token_hex(16)  # /health answers with it: the server that answers is this one
        self.api_key = api_key or (None if host in LOOPBACK else new_key())  # the network is never open without one
        self.command = [*bundle.module("macapp.engine.export.api_server"), self.name, "--model", str(model_path),
                        "--host", host, "--port", str(self.port), "--max-seconds", str(max_seconds),
                        "--max-requests", str(max_requests)]
        for origin in allow_origins:
            self.command += ["--allow-origin", origin]
        if adapter_path:
            self.command += ["--adapter-path", str(adapter_path)]
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host == "localhost" else self.host
        return f"http://{f'[{shown}]' if ':' in shown else shown}:{self.port}"

    def start(self, timeout: float = 300, should_stop=lambda: False) -> str:
        """Start the server and wait until it answers /health with its token; returns its URL. A stop meanwhile
        raises Stopped (the caller stops the server)."""
        output = open(self.log, "ab") if self.log else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(self.command, stdout=output, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL,
                                            env=blas.environment({**os.environ, "TAILOR_SERVER_TOKEN": self.token,
                                                                 "TAILOR_API_KEY": self.api_key or ""}))
        finally:
            if self.log:
                output.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                taken = self.process.returncode == CANNOT_BIND
                raise ExportError((f"Port {self.port} was taken by another program as the server started. Choose "
                                   "another port, or stop the other program." if taken else
                                   f"The server stopped as it started (exit code {self.process.returncode}); "
                                   "the last lines of its log say why.")
                                  + (f" Its log: {self.log}" if self.log else ""))
            if self._answers():
                return self.url
            if should_stop():
                raise Stopped("Stopped before the server answered.")
            time.sleep(0.2)
        self.stop()
        raise ExportError(f"The server did not answer within {timeout:.0f} s.")

    def _answers(self) -> bool:
        """True once this start's own server answers /health."""
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                return answer.status == 200 and json.loads(answer.read()).get("token") == self.token
        except (OSError, ValueError, AttributeError):
            return False

    def wait(self) -> int:
        return self.process.wait() if self.process else 0

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        for send, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):  # it holds nothing to save
            self.process.send_signal(send)
            try:
                self.process.wait(grace)
                return
            except subprocess.TimeoutExpired:
                continue
