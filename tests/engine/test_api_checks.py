"""The local API's checks on their own: which Host names the server, which web pages are allowed, the key, the
model's limits, and the fields of a body (the server's own answers are in tests/e2e/test_api_limits.py)."""

import json
import socket

import pytest

from macapp.engine.export import api_checks
from macapp.engine.export.api_checks import Limits, RequestError


@pytest.mark.parametrize("header, served, allowed", [
    ("127.0.0.1:8080", "127.0.0.1", True), ("localhost:8080", "127.0.0.1", True), ("[::1]:8080", "::1", True),
    ("192.168.1.5:8080", "192.168.1.5", True), (None, "127.0.0.1", True),
    ("localhost", "127.0.0.1", False),  # port 80 is not the port served
    ("127.0.0.1:8081", "127.0.0.1", False), ("attacker.example:8080", "127.0.0.1", False),
    ("192.168.1.6:8080", "192.168.1.5", False), ("127.0.0.1:80:8080", "127.0.0.1", False),
    ("10.0.0.7:8080", "0.0.0.0", True), ("[fe80::1]:8080", "::", True),  # every address served: any address
    (f"{socket.gethostname()}.local:8080", "0.0.0.0", True), ("attacker.example:8080", "0.0.0.0", False),
])
def test_the_host_must_name_the_server(header, served, allowed):
    assert api_checks.host_allowed(header, served, 8080) is allowed


def test_origins_are_those_allowed_with_wildcards():
    allowed = ("http://localhost:*", "https://app.example")
    assert api_checks.origin_allowed(None, ())  # not a web page
    assert api_checks.origin_allowed("http://localhost:3000", allowed)
    assert api_checks.origin_allowed("HTTPS://APP.example", allowed)
    assert not api_checks.origin_allowed("http://localhost.evil.example:3000", allowed)
    assert not api_checks.origin_allowed("https://app.example.evil", allowed)
    assert not api_checks.origin_allowed("null", allowed)
    assert not api_checks.origin_allowed("http://localhost:3000", ())


def test_the_key_is_a_bearer_token():
    assert api_checks.key_given("Bearer s3cret", "s3cret") and api_checks.key_given("bearer  s3cret ", "s3cret")
    assert not any(api_checks.key_given(header, "s3cret") for header in (None, "", "s3cret", "Basic s3cret",
                                                                         "Bearer s3cre", "Bearer s3cret2"))


def test_limits_come_from_the_models_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 4096, "vocab_size": 800}))
    assert Limits.of(tmp_path) == Limits(4096, 800)
    (tmp_path / "config.json").write_text(json.dumps({"text_config": {"max_position_embeddings": 8192}}))
    assert Limits.of(tmp_path) == Limits(8192, None)
    (tmp_path / "config.json").write_text("{not json")
    assert Limits.of(tmp_path) == Limits(api_checks.UNKNOWN_CONTEXT, None)


def test_max_tokens_is_capped_and_nulls_mean_the_default():
    body = api_checks.check({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10 ** 12,
                             "max_completion_tokens": 100, "temperature": None, "top_p": 1}, "/v1/chat/completions",
                            Limits(512, 800))
    assert body["max_tokens"] == 512 and body["max_completion_tokens"] == 100
    assert "temperature" not in body and body["top_p"] == 1.0 and isinstance(body["top_p"], float)


def test_a_body_nested_beyond_reading_is_a_400():
    with pytest.raises(RequestError, match="nests too deeply"):
        api_checks.parse(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
