"""Making data against model servers on 127.0.0.1 that misbehave on purpose: one that takes a request and never answers,
one that streams for ever, one that answers JSON of the wrong shape; and a refused first job that must not block the
corrected one. The limits are set small through the environment, so that each case ends in seconds.
"""

import contextlib
import json
import re
import threading
import time

import pytest

from macapp import exitcodes, jobs
from macapp.engine import waiting
from macapp.engine.data import made_data, synthesis
from macapp.engine.data.chat_sources import EndpointChat, ServerLost, WrongAnswer
from macapp.engine.data.recipe import OTHER_MAKING, Recipe
from macapp.engine.errors import InputError, Stopped
from tests.e2e.silence import PATIENCE, stopped_while_silent
from tests.e2e.test_synth import instructions, run
from tests.helpers import QuietHandler, local_server, tailor

ASK = [{"role": "user", "content": "How do I repot a fern?"}]
SILENT = "take the chat and say nothing"


def said(words: str):
    """An answer in one piece, as a server that does not stream gives it."""
    return lambda handler: handler.answer({"choices": [{"message": {"role": "assistant", "content": words},
                                                        "finish_reason": "stop"}]})


def shaped(value):
    """An answer of the given JSON, whatever its shape."""
    return lambda handler: handler.answer(value)


def stream(handler, line: bytes, pause: float = 0.0) -> None:
    """Send `line` again and again as an event stream, until the client goes away."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.end_headers()
    try:
        while True:
            handler.wfile.write(line)
            handler.wfile.flush()
            time.sleep(pause)  # the server's pace, not a wait of the test
    except OSError:  # the client closed the connection: the answer was cut
        return


def endless(handler) -> None:
    stream(handler, b'data: {"choices": [{"delta": {"content": "and "}, "finish_reason": null}]}\n\n')


class StandIn:
    """A model server of the test's own: the n-th chat is answered by the n-th of `answers` (the last one from then
    on); SILENT takes the chat and says nothing until the test ends, setting `fell_silent`."""

    def __init__(self, *answers):
        self.answers, self.chats = list(answers), []
        self.fell_silent, self.closing = threading.Event(), threading.Event()

    def handler(self):
        stand_in = self

        class Handler(QuietHandler):
            def do_POST(self):
                stand_in.chats.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
                answer = stand_in.answers[min(len(stand_in.chats), len(stand_in.answers)) - 1]
                if answer == SILENT:
                    stand_in.fell_silent.set()
                    stand_in.closing.wait()
                else:
                    answer(self)

        return Handler


@pytest.fixture
def serve():
    """serve(*answers) -> (the stand-in, its address)."""
    with contextlib.ExitStack() as servers:
        def start(*answers):
            stand_in = StandIn(*answers)
            servers.callback(stand_in.closing.set)  # runs first: a silent answer ends before its server
            return stand_in, f"http://{servers.enter_context(local_server(stand_in.handler()))}/v1"

        yield start


def test_a_server_silent_after_two_answers_is_said_keeping_the_examples(serve, tmp_path, monkeypatch):
    monkeypatch.setenv(waiting.SILENCE, "8")  # the two answers before must never look silent on a busy machine
    stand_in, url = serve(said("Water it."), said("In spring."), SILENT)
    began = time.monotonic()
    code, events = run(tmp_path / "made", instructions=instructions(tmp_path, 4), endpoint=url, max_tokens=16)
    assert code == exitcodes.FAILED and time.monotonic() - began < PATIENCE
    error = events[-1]
    assert error["message"] == (f"The model server at {url.removesuffix('/v1')} took the request but then said "
                                "nothing for 8 seconds.")
    assert error["fix"] == ("The 2 examples made so far are kept: check that the model server is running and not "
                            "stuck (restart it if it is), then go on from there.")
    assert len(made_data.read(tmp_path / "made")) == 2


def test_a_server_silent_from_the_start_is_said_and_the_job_ends(serve, tmp_path, monkeypatch):
    monkeypatch.setenv(waiting.SILENCE, "2")
    stand_in, url = serve(SILENT)
    result = tailor("data", "synth", "--topic", "ferns", "--count", "3", "--out", tmp_path / "made", "--endpoint", url,
                    timeout=PATIENCE)
    assert result.returncode == exitcodes.FAILED, result.stderr
    assert "said nothing for 2 seconds" in result.stderr and "Traceback" not in result.stderr
    assert "Check that the model server is running and not stuck (restart it if it is), then try again." in \
        result.stderr


def test_a_stop_is_honoured_while_the_server_is_silent(serve, tmp_path, monkeypatch):
    monkeypatch.setenv(waiting.SILENCE, "600")  # only the stop can end the wait
    stand_in, url = serve(SILENT)
    began = time.monotonic()
    with pytest.raises(Stopped):
        EndpointChat(Recipe(endpoint=url), should_stop=stand_in.fell_silent.is_set)(ASK, 16)
    assert time.monotonic() - began < PATIENCE
    stand_in.fell_silent.clear()
    (tmp_path / "made").mkdir()
    recipe = Recipe(way="topic", topic="ferns", count=3, endpoint=url).to_dict()
    stopped_while_silent(jobs.SynthJob(run=str(tmp_path / "made"), recipe=recipe), stand_in.fell_silent)


def test_an_endless_stream_is_cut_at_the_tokens_asked_for(serve, tmp_path):
    stand_in, url = serve(endless)
    logs = []
    text, finish = EndpointChat(Recipe(endpoint=url), report=logs.append)(ASK, 16)
    assert (text, finish) == (" ".join(["and"] * 16), "length")
    assert [e["message"] for e in logs] == [f"The model server at {url.removesuffix('/v1')} went on past the 16 tokens "
                                            "asked for: its answer was cut there."]
    code, events = run(tmp_path / "made", instructions=instructions(tmp_path, 2), endpoint=url, max_tokens=16)
    assert code == exitcodes.DONE, events[-1]
    made = made_data.read(tmp_path / "made")
    assert len(made) == 2 and all(example.finish == ["length"] for example in made)
    assert all("cut" in flags for flags in made_data.flags(made).values())  # shown as cut off in the preview


def test_an_answer_that_goes_on_past_the_time_of_an_answer_is_cut(serve, monkeypatch):
    monkeypatch.setenv(waiting.ANSWER, "2")
    stand_in, url = serve(lambda handler: stream(handler, b'data: {"choices": [{"delta": {"content": "so "}}]}\n\n',
                                                 pause=0.05))
    logs = []
    text, finish = EndpointChat(Recipe(endpoint=url), report=logs.append)(ASK, 8192)
    assert finish == "length" and text.startswith("so so")
    assert logs[0]["message"] == (f"The model server at {url.removesuffix('/v1')} was still answering after 2 seconds: "
                                  "its answer was cut there.")
    stand_in.answers[0] = lambda handler: stream(handler, b": still thinking\n\n", pause=0.05)  # only comments
    assert EndpointChat(Recipe(endpoint=url))(ASK, 16) == ("", "length")


def test_an_answer_in_one_piece_that_never_ends_is_not_read_for_ever(serve, monkeypatch):
    monkeypatch.setenv(waiting.ANSWER, "2")

    def endless_json(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        try:
            while True:
                handler.wfile.write(b'{"choices": [' * 1000 + b"\n")
        except OSError:
            return

    stand_in, url = serve(endless_json)
    with pytest.raises(WrongAnswer, match="answered in a form Tailor cannot read: its answer did not end"):
        EndpointChat(Recipe(endpoint=url))(ASK, 16)


@pytest.mark.parametrize("answer, what", [
    ({"choices": [{"message": {"content": {"text": "Water it."}}}]}, "the text of its answer is a JSON object"),
    ({"choices": "Water it."}, "it has no list of choices"),
    ({"choices": ["Water it."]}, "its choice is text, not a JSON object"),
    ({"choices": [{"message": ["Water it."]}]}, "its message is a list, not a JSON object"),
    ({"choices": [{"message": {"content": "Water it."}, "finish_reason": 1}]}, "its finish_reason is a number"),
    (["Water it."], "it is a list, not a JSON object"),
    ({"answer": "Water it."}, "it has no list of choices"),
    (b"<html><body>Welcome to nginx!</body></html>", "it is not JSON (it began: <html><body>Welcome to nginx!"),
])
def test_a_wrong_shaped_answer_is_said_in_plain_words(serve, answer, what):
    stand_in, url = serve(shaped(answer))
    with pytest.raises(WrongAnswer) as wrong:
        EndpointChat(Recipe(endpoint=url))(ASK, 16)
    assert str(wrong.value).startswith(f"The model server at {url.removesuffix('/v1')} answered in a form Tailor "
                                       f"cannot read: {what}")
    assert wrong.value.fix == ("Check that the address is that of an OpenAI-compatible server (Ollama, LM Studio, "
                               "mlx_lm server) serving the model you chose, then try again.")


def test_a_wrong_shaped_answer_ends_the_job_with_exit_1_and_no_traceback(serve, tmp_path):
    stand_in, url = serve(said("Water it."), shaped({"choices": [{"message": {"content": {"text": "hi"}}}]}))
    result = tailor("data", "synth", instructions(tmp_path, 3), "--out", tmp_path / "made", "--endpoint", url,
                    timeout=PATIENCE)
    assert result.returncode == exitcodes.FAILED, result.stderr
    assert "answered in a form Tailor cannot read: the text of its answer is a JSON object, not text" in result.stderr
    assert "The example made so far is kept: check that the address" in result.stderr
    assert "AttributeError" not in result.stderr and "Traceback" not in result.stderr


def test_a_refused_first_job_does_not_block_the_corrected_one(serve, tmp_path):
    stand_in, url = serve(said("Water it."))
    out = tmp_path / "made"
    refused = tailor("data", "synth", tmp_path / "no-such-file.txt", "--out", out, "--endpoint", url, timeout=PATIENCE)
    assert refused.returncode == exitcodes.BAD_INPUT and "file not found" in refused.stderr
    corrected = tailor("data", "synth", instructions(tmp_path, 2), "--out", out, "--endpoint", url, timeout=PATIENCE)
    assert corrected.returncode == exitcodes.DONE, corrected.stderr
    assert len(made_data.read(out)) == 2


def test_a_job_that_made_nothing_is_replaced_and_one_that_made_something_is_not(serve, tmp_path):
    stand_in, url = serve(said("Water it."))
    folder, first, second = tmp_path / "made", tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text("How do I repot a fern?\n")
    second.write_text("Why do fern leaves turn brown?\nHow often do I water a fern?\n")
    with pytest.raises(ServerLost):  # the server was not started yet: the questions were read, nothing answered
        synthesis.make(folder, Recipe(instructions=str(first), endpoint="http://127.0.0.1:9/v1"))
    assert (folder / synthesis.QUESTIONS).exists()
    synthesis.make(folder, Recipe(instructions=str(second), endpoint=url))
    assert [example.question for example in made_data.read(folder)] == second.read_text().splitlines()
    with pytest.raises(InputError, match=re.escape(OTHER_MAKING)):
        synthesis.make(folder, Recipe(instructions=str(first), endpoint=url))
