"""A local OpenAI-compatible API for a fine-tuned model: mlx-lm's server, on 127.0.0.1 unless asked otherwise.

The server runs as a child process; `Server` starts it, waits until /health answers, gives ready-to-copy
examples, and stops it (terminate, then kill: it keeps no state worth saving).
"""

import json
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from . import blas, bundle
from .export import ExportError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MODEL_ID = "default_model"  # what mlx-lm's server calls the model it was started with


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def check_host(host: str, allow_remote: bool) -> None:
    if host not in LOOPBACK and not allow_remote:
        raise ExportError(f"Serving on {host} would let other computers on the network use this model. Serve on "
                          "127.0.0.1 (the default), or pass --allow-remote if that is what you want.")


def examples(url: str) -> dict:
    """A curl command and a Python snippet that talk to the server, ready to copy."""
    body = json.dumps({"model": MODEL_ID, "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 100})
    return {
        "curl": f"curl {url}/v1/chat/completions -H 'Content-Type: application/json' -d '{body}'",
        "python": ("from openai import OpenAI\n"
                   f"client = OpenAI(base_url=\"{url}/v1\", api_key=\"not-needed\")\n"
                   f"reply = client.chat.completions.create(model=\"{MODEL_ID}\", "
                   "messages=[{\"role\": \"user\", \"content\": \"Hello!\"}])\n"
                   "print(reply.choices[0].message.content)"),
    }


class Server:
    """mlx-lm's server for a model folder and an optional adapter, as a child process."""

    def __init__(self, model_path: Path, adapter_path: Path | None = None, host: str = "127.0.0.1",
                 port: int | None = None, allow_remote: bool = False, log: Path | None = None):
        check_host(host, allow_remote)
        self.host, self.port = host, port or free_port(host if host in LOOPBACK else "0.0.0.0")
        self.command = [*bundle.python(), "-m", "mlx_lm", "server", "--model", str(model_path),
                        "--host", host, "--port", str(self.port)]
        if adapter_path:
            self.command += ["--adapter-path", str(adapter_path)]
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host == "localhost" else self.host
        return f"http://{f'[{shown}]' if ':' in shown else shown}:{self.port}"

    def start(self, timeout: float = 300) -> str:
        """Start the server and wait until it answers /health; returns its URL."""
        output = open(self.log, "ab") if self.log else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(self.command, stdout=output, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=blas.environment())
        finally:
            if self.log:
                output.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ExportError(f"The server stopped as it started (exit code {self.process.returncode}); "
                                  f"is port {self.port} taken?" + (f" Its log: {self.log}" if self.log else ""))
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise ExportError(f"The server did not answer within {timeout:.0f} s.")

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
