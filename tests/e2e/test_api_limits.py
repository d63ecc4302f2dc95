"""The local API left running is safe: answers are bounded (the model's context, a time limit, a client that has gone),
a burst of clients is answered or told when to come back, bad fields get a 400 that says what is wrong, and only the
callers allowed (Host, Origin, API key) are served. Real servers on 127.0.0.1, on copies of the demo model."""

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import psutil
import pytest

from macapp.engine.export import api_checks, serve
from tests.helpers import REPO, tailor

CHAT = "/v1/chat/completions"
HELLO = [{"role": "user", "content": "Hello"}]
ENDLESS = {"messages": HELLO, "max_tokens": 1_000_000_000_000, "logit_bias": {"2": -100}, "temperature": 1.0}
KEY = "a-key-for-the-tests"
PAGE = "http://localhost:3000"


@pytest.fixture(scope="module")
def long_model(demo_model, tmp_path_factory):
    """The demo model told it may attend to a million tokens (RoPE has no hard end): with its end token banned, only
    the time limit or a stop ends its answer."""
    folder = tmp_path_factory.mktemp("long") / "model"
    shutil.copytree(demo_model, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 1_000_000}))
    return folder


def started(*args, **kwargs) -> serve.Server:
    server = serve.Server(*args, **kwargs)
    server.start()
    return server


@pytest.fixture(scope="module")
def api(demo_model):
    """The demo model (a context of 512 tokens) served as `tailor serve` serves it by default."""
    server = started(demo_model)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def guarded(long_model):
    """The long model served with an API key, for web pages on any port of localhost."""
    server = started(long_model, api_key=KEY, allow_origins=["http://localhost:*"])
    yield server
    server.stop()


def ask(port: int, method: str = "POST", path: str = CHAT, body=None, headers: dict | None = None,
        timeout: float = 120):
    """One request on its own connection: the status, the headers and the answer (JSON read; None when empty)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    connection.request(method, path, data, {"Content-Type": "application/json", **(headers or {})})
    answer = connection.getresponse()
    raw = answer.read()
    connection.close()
    headers = {k.lower(): v for k, v in answer.getheaders()}
    return answer.status, headers, json.loads(raw) if raw and "json" in headers.get("content-type", "") else raw


def test_max_tokens_is_capped_at_the_models_context(api):
    status, _, answer = ask(api.port, body=ENDLESS)
    assert status == 200 and answer["choices"][0]["finish_reason"] == "length"
    assert 0 < answer["usage"]["completion_tokens"] <= 512


def test_a_conversation_longer_than_the_models_context_is_refused(api):
    long = [{"role": "user", "content": "word " * 2000}]  # the demo model reads 512 tokens at most
    status, _, answer = ask(api.port, body={"messages": long, "max_tokens": 4})
    assert status == 400, answer
    assert "tokens long, and this model reads at most 512. Send a shorter conversation." in answer["error"]["message"]
    status, _, answer = ask(api.port, body={"messages": HELLO, "max_tokens": 4})  # the server goes on serving
    assert status == 200, answer


BAD_FIELDS = [
    (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}', "temperature is nan"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "top_p": -Infinity}', "top_p is -inf"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"5": 1e999}}', "logit_bias.5 is inf"),
    (b'{"messages": [{"role": "user", "content": "caf\xe9"}]}', "not UTF-8"),
    (b'{"messages": [', "not valid JSON"),
    (b'[1, 2]', "must be a JSON object"),
    ({"messages": "hi"}, "messages must be a list"),
    ({"messages": []}, "not an empty list"),
    ({"messages": ["hi"]}, "messages[0] must be an object"),
    ({"messages": [{"content": "hi"}]}, "messages[0] needs a \"role\""),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content must be text"),
    ({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}, "must be an object with a \"type\""),
    ({"messages": [{"role": "assistant", "content": "", "tool_calls": [{"function": {"arguments": "{"}}]}]},
     "arguments is not JSON"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://10.0.0.1/a"}}]}]},
     "this server fetches nothing"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "data:image/png;base64,AA"}]}]},
     "The model cannot take this conversation: Only 'text'"),  # found by mlx-lm as it reads the conversation
    ({}, "has no messages"),
    ({"messages": HELLO, "temperature": "hot"}, "temperature must be a number, not text"),
    ({"messages": HELLO, "max_tokens": 2.5}, "max_tokens must be a whole number"),
    ({"messages": HELLO, "max_tokens": True}, "max_tokens must be a whole number, not true or false"),
    ({"messages": HELLO, "seed": -1}, "seed must be a whole number from 0"),
    ({"messages": HELLO, "stop": 5}, "stop must be text or a list of texts"),
    ({"messages": HELLO, "tools": "all"}, "tools must be a list"),
    ({"messages": HELLO, "logit_bias": [1]}, "logit_bias must be an object"),
    ({"messages": HELLO, "logit_bias": {"a": 1}}, "names token 'a'"),
    ({"messages": HELLO, "logit_bias": {"100000": 1}}, "from 0 to 799"),
    ({"messages": HELLO, "logit_bias": {"5": "up"}}, "from -100 to 100"),
    ({"messages": HELLO, "stream": True, "stream_options": {"include_usage": "yes"}}, "include_usage"),
    ({"messages": HELLO, "model": 7}, "model must be the model's name"),
    ({"messages": HELLO, "temperature": -1}, "temperature must be at least 0"),  # a range: mlx-lm's own words
]


@pytest.mark.parametrize("body, words", BAD_FIELDS, ids=range(len(BAD_FIELDS)))
def test_every_bad_field_gets_a_400_that_says_what_is_wrong(api, body, words):
    status, _, answer = ask(api.port, body=body)
    message = answer["error"]["message"] if isinstance(answer["error"], dict) else answer["error"]
    assert status == 400 and words in message, message
    assert "object has no attribute" not in message and "Traceback" not in message


def test_a_text_completion_needs_a_text_prompt_and_odd_but_valid_fields_are_served(api):
    for prompt, words in ((None, "needs a \"prompt\""), (["a", "b"], "prompt must be text, not a list")):
        body = {"max_tokens": 3} if prompt is None else {"prompt": prompt, "max_tokens": 3}
        status, _, answer = ask(api.port, path="/v1/completions", body=body)
        assert status == 400 and words in answer["error"]["message"]
    status, _, answer = ask(api.port, path="/v1/completions", body={"prompt": "Once", "max_tokens": 3})
    assert status == 200 and answer["choices"][0]["text"] is not None
    valid = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}], "max_tokens": 3,
             "temperature": None, "stop": None, "seed": None}  # null means the default, as some clients send it
    status, _, answer = ask(api.port, body=valid)
    assert status == 200 and answer["choices"][0]["finish_reason"]
    status, _, streamed = ask(api.port, body={"messages": HELLO, "max_tokens": 3, "stream": True,
                                              "stream_options": {}})  # mlx-lm alone reads include_usage unasked
    assert status == 200 and streamed.endswith(b"data: [DONE]\n\n")


def test_a_burst_of_100_clients_is_answered_or_told_when_to_come_back(api):
    """All connect at once: none is reset; each gets its answer, or a 503 that says when to try again."""
    outcomes, go = [None] * 100, threading.Barrier(100, timeout=60)

    def client(index):
        go.wait()
        try:
            status, headers, answer = ask(api.port, body={"messages": HELLO, "max_tokens": 8}, timeout=240)
            outcomes[index] = (status, headers.get("retry-after"), answer)
        except OSError as error:
            outcomes[index] = (type(error).__name__, None, None)

    started_at = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    counts = Counter(status for status, _, _ in outcomes)
    assert set(counts) <= {200, 503} and counts[200] >= api_checks.MAX_REQUESTS // 2, counts
    assert all(answer["choices"][0]["message"]["role"] == "assistant" for status, _, answer in outcomes
               if status == 200)
    assert all(retry == str(api_checks.RETRY_SECONDS) and "busy" in answer["error"]["message"]
               for status, retry, answer in outcomes if status == 503)
    print(f"100 clients at once: {dict(counts)} in {time.monotonic() - started_at:.1f} s")
    assert ask(api.port, "GET", "/health")[0] == 200


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def busy_for(process: psutil.Process, seconds: float) -> float:
    """The CPU time the process used over the next `seconds` (measured, not waited on for anything)."""
    before = cpu_seconds(process)
    time.sleep(seconds)
    return cpu_seconds(process) - before


@pytest.mark.parametrize("stream", (False, True), ids=("whole", "streamed"))
def test_an_abandoned_endless_answer_stops_within_seconds(guarded, stream):
    """A client asks for an endless answer, then goes: the server's CPU is back to idle within seconds, long before
    the time limit (600 s) would cut it."""
    process = psutil.Process(guarded.process.pid)
    body = json.dumps({**ENDLESS, "stream": stream}).encode()
    client = socket.create_connection(("127.0.0.1", guarded.port), timeout=30)
    client.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1:{guarded.port}\r\nAuthorization: Bearer {KEY}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    deadline = time.monotonic() + 120
    while busy_for(process, 1.0) < 0.3:  # generating: at least 30% of a core
        assert time.monotonic() < deadline, "the endless answer never started"
    client.close()
    left = time.monotonic()
    deadline = left + 30
    while (used := busy_for(process, 2.0)) > 0.2:  # idle: under 10% of a core
        assert time.monotonic() < deadline, f"still generating {time.monotonic() - left:.0f} s after the client left"
    print(f"idle {time.monotonic() - left:.1f} s after the client left ({used:.2f} s of CPU in the last 2 s)")
    assert ask(guarded.port, "GET", "/health")[0] == 200


def test_only_the_address_served_is_answered(api):
    """Against DNS rebinding: a page whose own name points at 127.0.0.1 still sends its name as the Host."""
    port = api.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert ask(port, "GET", "/v1/models", headers={"Host": host})[0] == 200, host
    for host in (f"evil.example:{port}", f"127.0.0.1:{port + 1}", "localhost", f"127.0.0.1.evil.example:{port}"):
        status, _, answer = ask(port, "GET", "/v1/models", headers={"Host": host})
        assert status == 403 and answer["error"]["code"] == "wrong_host", host
    status, _, answer = ask(port, body={"messages": HELLO, "max_tokens": 3}, headers={"Host": f"evil.example:{port}"})
    assert status == 403 and f"127.0.0.1:{port}" in answer["error"]["message"]


def test_no_web_page_may_call_it_by_default(api):
    status, headers, _ = ask(api.port, "GET", "/v1/models")
    assert status == 200 and "access-control-allow-origin" not in headers
    for method, body in (("POST", {"messages": HELLO, "max_tokens": 3}), ("OPTIONS", None), ("GET", None)):
        status, headers, answer = ask(api.port, method, CHAT if method != "GET" else "/v1/models", body,
                                      headers={"Origin": "https://any-page.example"})
        assert status == 403 and "access-control-allow-origin" not in headers, method
        assert "--allow-origin" in answer["error"]["message"]


def test_pages_allowed_may_call_it_with_the_key(guarded):
    port, page = guarded.port, {"Origin": PAGE}
    status, headers, _ = ask(port, "OPTIONS", headers={**page, "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Headers": "authorization"})
    assert status == 204 and headers["access-control-allow-origin"] == PAGE and headers["vary"] == "Origin"
    assert "authorization" in headers["access-control-allow-headers"].lower()
    status, headers, answer = ask(port, body={"messages": HELLO, "max_tokens": 3},
                                  headers={**page, "Authorization": f"Bearer {KEY}"})
    assert status == 200 and headers["access-control-allow-origin"] == PAGE and answer["choices"]
    assert ask(port, "OPTIONS", headers={"Origin": "http://localhost.evil.example:3000"})[0] == 403


def test_the_key_is_asked_of_every_request_but_the_starters_check(guarded):
    import openai
    from openai import OpenAI

    for given in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        status, headers, answer = ask(guarded.port, "GET", "/v1/models", headers=given)
        assert status == 401 and headers["www-authenticate"] == "Bearer" and "API key" in answer["error"]["message"]
    assert ask(guarded.port, body={"messages": HELLO, "max_tokens": 3})[0] == 401
    status, _, answer = ask(guarded.port, "GET", "/health")
    assert status == 200 and answer["token"] == guarded.token
    client = OpenAI(base_url=f"{guarded.url}/v1", api_key=KEY)
    assert client.chat.completions.create(model=guarded.name, messages=HELLO, max_tokens=3).choices
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=f"{guarded.url}/v1", api_key="not-needed").models.list()


def test_serve_makes_a_key_and_cuts_an_endless_answer_at_its_time_limit(long_model):
    """`tailor serve --api-key --max-seconds 3`: the key made is shown, and an endless answer ends with "length"."""
    port = serve.free_port()
    server = subprocess.Popen([sys.executable, "-m", "macapp", "serve", "--model", str(long_model), "--port",
                               str(port), "--api-key", "--max-seconds", "3", "--allow-origin", PAGE],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        shown = ""
        while "print(reply" not in shown:  # the last line of the examples
            line = server.stdout.readline()
            assert line or server.poll() is None, server.stderr.read()[-2000:]
            shown += line
        key = shown.split("API key (every request must send it): ", 1)[1].split()[0]
        assert f"Authorization: Bearer {key}" in shown and f'api_key="{key}"' in shown
        started_at = time.monotonic()
        status, headers, answer = ask(port, body=ENDLESS, headers={"Authorization": f"Bearer {key}", "Origin": PAGE})
        took = time.monotonic() - started_at
        assert status == 200 and answer["choices"][0]["finish_reason"] == "length" and headers[
            "access-control-allow-origin"] == PAGE
        assert answer["usage"]["completion_tokens"] > 0 and 3 <= took < 60, took
        assert ask(port, body=ENDLESS)[0] == 401
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0


def test_a_key_is_never_written_on_the_command_line(long_model):
    result = tailor("serve", "--model", long_model, "--api-key", "s3cret", "--port", serve.free_port())
    assert result.returncode == 2 and "--api-key takes no value" in result.stderr and "TAILOR_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr
