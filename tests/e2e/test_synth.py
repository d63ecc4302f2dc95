"""Making data in real worker processes against a real `mlx_lm server` on the demo model: topics, documents, kills,
a server that goes away, and a second worker on the same folder. The demo model writes nonsense: the mechanics count.
"""

import json
import signal
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from macapp import exitcodes, jobs
from macapp.engine import files
from macapp.engine.data import question_lists, synthesis
from macapp.engine.data.recipe import Recipe
from macapp.engine.models import demo
from tests.engine.test_documents import write_docx, write_pdf
from tests.helpers import tailor

WAIT = 120  # seconds any one worker may take before the test gives up on it


class Proxy:
    """A forwarding server in front of the real one, passing its answers on line by line as they stream: keeps each
    chat it is sent, can hold the `hold_at`-th until `release` is set (before asking the server, or `mid_answer`:
    after the first line of its answer), can refuse chats (`refuse` gives the status and error JSON for a chat, or
    None), and can be closed to play a server that went away."""

    def __init__(self, target: str, hold_at: int | None = None, mid_answer: bool = False, refuse=lambda chat: None):
        self.root, self.hold_at, self.mid_answer, self.refuse = target.rsplit("/v1", 1)[0], hold_at, mid_answer, refuse
        self.chats: list[dict] = []
        self.lock, self.held, self.release = threading.Lock(), threading.Event(), threading.Event()
        self.let_go = threading.Event()  # the held chat went on: released, or held for WAIT
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                proxy.forward(self, None)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy.lock:
                    proxy.chats.append(json.loads(body))
                    number = len(proxy.chats)
                if refused := proxy.refuse(proxy.chats[-1]):
                    status, error = refused
                    data = json.dumps(error).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if number == proxy.hold_at and not proxy.mid_answer:
                    proxy.hold()
                proxy.forward(self, body, hold=number == proxy.hold_at and proxy.mid_answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def hold(self) -> None:
        self.held.set()
        self.release.wait(WAIT)
        self.let_go.set()

    def forward(self, handler, body, hold=False) -> None:
        """The server's answer, line by line as it comes (the connection's end ends it); `hold`: after its first."""
        request = urllib.request.Request(self.root + handler.path, body, {"Content-Type": "application/json"})
        try:
            try:
                response = urllib.request.urlopen(request, timeout=WAIT)
            except urllib.error.HTTPError as error:
                response = error
            with response:
                handler.send_response(response.status)
                handler.send_header("Content-Type", response.headers.get("Content-Type", "application/json"))
                handler.end_headers()
                for number, line in enumerate(response):
                    handler.wfile.write(line)
                    handler.wfile.flush()
                    if hold and number == 0:
                        self.hold()
        except OSError:  # the worker was killed, or stopped, while its chat was held
            pass

    def asked(self, words: str) -> list[str]:
        """The first message of each chat sent so far that contains `words`."""
        return [c["messages"][0]["content"] for c in self.chats if words in c["messages"][0]["content"]]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(mlx_server):
    made = []

    def make(hold_at=None, **options):
        made.append(Proxy(mlx_server, hold_at, **options))
        return made[-1]

    yield make
    for each in made:
        each.close()


def run(folder: Path, kill_when=lambda event: False, **recipe) -> tuple[int, list[dict]]:
    """Make the recipe into `folder` in a real worker; SIGKILL it at the first event `kill_when` accepts.
    Returns its exit code and its events."""
    folder.mkdir(parents=True, exist_ok=True)
    process = jobs.start(jobs.SynthJob(run=str(folder), recipe=Recipe(**recipe).check().to_dict()))
    hung = threading.Event()
    watchdog = threading.Timer(WAIT, lambda: (hung.set(), process.kill()))
    watchdog.start()
    seen, killed = [], False
    try:
        for event in jobs.events(process):
            seen.append(event)
            if not killed and kill_when(event):
                process.kill()
                killed = True
    finally:
        watchdog.cancel()
    assert not hung.is_set(), f"the worker took more than {WAIT} s: {seen[-3:]}"
    return process.returncode, seen


def start(folder: Path, **recipe):
    folder.mkdir(parents=True, exist_ok=True)
    return jobs.start(jobs.SynthJob(run=str(folder), recipe=Recipe(**recipe).check().to_dict()))


def answered(done: int):
    return lambda e: e["type"] == "progress" and e.get("stage") == "answers" and e["done"] >= done


def instructions(tmp_path: Path, count: int) -> str:
    path = tmp_path / "instructions.txt"
    path.write_text("\n".join(demo.held_out_comments()[:count]) + "\n")
    return str(path)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_each_index_once(folder: Path, count: int) -> list[dict]:
    rows = files.read_lines(folder / "examples.jsonl")  # a line a kill cut short is a broken line, left out
    assert sorted(r["index"] for r in rows) == list(range(count))
    assert len(lines(folder / "dataset.jsonl")) == count
    return rows


def test_topic_questions_answers_and_follow_ups(mlx_server, tmp_path):
    folder = tmp_path / "topic"
    code, events = run(folder, way="topic", topic="keeping a sourdough starter alive", count=4, follow_up=True,
                       endpoint=mlx_server, max_tokens=16)
    assert code == exitcodes.DONE, events[-1]
    questions = [q["instruction"] for q in lines(folder / "questions.jsonl")]
    assert 1 <= len(questions) <= 4
    distinct = question_lists.Distinct()
    assert all(distinct.add(q) for q in questions), questions
    rows = assert_each_index_once(folder, len(questions))
    for row in rows:
        assert [m["role"] for m in row["messages"]] == ["user", "assistant", "user", "assistant"]
        assert row["messages"][0]["content"] == questions[row["index"]]
        assert len(row["finish"]) == 2
    progress = [e for e in events if e["type"] == "progress"]
    assert all({"stage", "done", "total"} <= set(e) for e in progress)
    stages = [e["stage"] for e in progress]
    assert stages[0] == "questions" and stages[-1] == "answers"
    assert stages == sorted(stages, key=("questions", "answers").index)  # all questions first, then all answers
    answering = [e for e in progress if e["stage"] == "answers" and e["done"] > 0]
    assert answering and all("per_minute" in e and "eta_seconds" in e for e in answering)
    assert answering[-1]["eta_seconds"] == 0
    result = events[-1]["result"]
    assert result["examples"] == len(questions) and ("fewer" in result) == (len(questions) < 4)


def test_killed_while_answering_resumes_losing_and_repeating_nothing(mlx_server, tmp_path):
    folder, recipe = tmp_path / "killed", {"instructions": instructions(tmp_path, 8), "max_tokens": 16}
    code, _ = run(folder, answered(2), endpoint=mlx_server, **recipe)
    assert code == -9
    questions = (folder / "questions.jsonl").read_bytes()
    before = lines(folder / "examples.jsonl")
    assert 2 <= len(before) < 8
    with open(folder / "examples.jsonl", "a") as handle:
        handle.write('{"index": 7, "messa')  # what a kill in the middle of a write leaves
    code, events = run(folder, endpoint=mlx_server, **recipe)
    assert code == exitcodes.DONE, events[-1]
    assert (folder / "questions.jsonl").read_bytes() == questions
    rows = assert_each_index_once(folder, 8)
    assert rows[: len(before)] == before
    assert events[-1]["result"]["new"] == 8 - len(before)


def test_killed_while_writing_questions_goes_on_from_the_next_request(proxy, tmp_path):
    folder, server = tmp_path / "questions", proxy(hold_at=2)
    recipe = {"way": "topic", "topic": "repairing a bicycle puncture", "count": 20, "max_tokens": 16}
    folder.mkdir()
    process = jobs.start(jobs.SynthJob(run=str(folder), recipe=Recipe(endpoint=server.url, **recipe).to_dict()))
    try:
        assert server.held.wait(WAIT), "the second list of questions was never asked for"
    finally:
        process.kill()
        process.wait(WAIT)
    server.release.set()
    assert not (folder / "questions.jsonl").exists()
    assert [line["step"] for line in lines(folder / "questions.partial.jsonl")] == [0]
    resumed = proxy()
    code, events = run(folder, endpoint=resumed.url, **recipe)
    assert code == exitcodes.DONE, events[-1]
    steps = [line["step"] for line in lines(folder / "questions.partial.jsonl")]
    assert steps == list(range(len(steps)))
    asked = resumed.asked("different questions that people ask")
    assert len(asked) == len(steps) - 1  # step 0 was not asked for again
    assert asked and question_lists.STARTERS[1] in asked[0]


def test_a_server_gone_mid_way_fails_keeping_the_examples_and_resumes_elsewhere(proxy, mlx_server, tmp_path):
    folder, recipe = tmp_path / "lost", {"instructions": instructions(tmp_path, 10), "max_tokens": 16}
    server = proxy()
    closed = []

    def close_after_two(event):
        if answered(2)(event) and not closed:
            server.close()
            closed.append(event)
        return False

    code, events = run(folder, close_after_two, endpoint=server.url, **recipe)
    assert code == exitcodes.FAILED and closed
    error = events[-1]
    assert error["type"] == "error" and "Cannot reach the model server" in error["message"]
    made = len(lines(folder / "examples.jsonl"))
    assert 2 <= made < 10 and f"The {made} examples made so far are kept" in error["fix"]
    typed = mlx_server.removeprefix("http://").removesuffix("/v1")  # as a person types it: 127.0.0.1:PORT
    code, events = run(folder, endpoint=typed, **recipe)
    assert code == exitcodes.DONE, events[-1]
    assert_each_index_once(folder, 10)
    assert events[-1]["result"]["new"] == 10 - made


def test_a_server_unreachable_from_the_start_is_bad_input(tmp_path):
    code, events = run(tmp_path / "never", way="topic", topic="growing tomatoes", count=3,
                       endpoint="http://127.0.0.1:9/v1", max_tokens=16)
    assert code == exitcodes.BAD_INPUT
    assert events[-1]["type"] == "error" and "Cannot reach the model server" in events[-1]["message"]
    assert not (tmp_path / "never" / "examples.jsonl").exists()


def test_documents_examples_name_their_file_and_page(proxy, tmp_path):
    pdf = write_pdf(tmp_path / "guide.pdf", ["The kettle boils water in two minutes.",
                                              "Descale the kettle every month with vinegar and water."])
    docx = write_docx(tmp_path / "notes.docx")
    html = tmp_path / "help.html"
    html.write_text("<html><body><h1>Setup</h1><p>Plug the cable into the wall socket.</p></body></html>")
    folder, server = tmp_path / "documents", proxy()
    code, events = run(folder, way="documents", documents=[str(pdf), str(docx), str(html)], per_passage=1,
                       endpoint=server.url, max_tokens=16)
    assert code == exitcodes.DONE, events[-1]
    passages = json.loads((folder / "passages.json").read_text())
    where = [p["where"] for p in passages]
    assert where[:2] == ["guide.pdf, page 1", "guide.pdf, page 2"] and "Descale" in passages[1]["text"]
    assert any(w.startswith("notes.docx, page 2") for w in where) and any(w.startswith("help.html") for w in where)
    assert len(lines(folder / "questions.partial.jsonl")) == len(passages)  # one request per passage
    told = [e["message"] for e in events if "to the model" in e.get("message", "")]  # before the first request
    assert told == [f"{len(passages)} passages in the documents: {2 * len(passages)} requests to the model "
                    f"(questions on each passage, then up to {len(passages)} answers)"]
    questions = lines(folder / "questions.jsonl")
    rows = assert_each_index_once(folder, len(questions))
    for row in rows:
        question = questions[row["index"]]
        assert row["source"] == where[question["passage"]] == question["source"]
        assert row["messages"][0]["content"] == question["instruction"]  # the example keeps only the question
        grounded = synthesis.GROUNDED.format(text=passages[question["passage"]]["text"],
                                             question=question["instruction"])
        assert grounded in server.asked("Answer the question from the passage below")  # the model had the passage
    dataset = lines(folder / "dataset.jsonl")
    assert [r["source"] for r in dataset] == [r["source"] for r in rows]


def test_a_password_protected_pdf_is_said_plainly(mlx_server, tmp_path):
    pdf = write_pdf(tmp_path / "locked.pdf", ["Secret text."], user_password="secret")
    result = tailor("data", "synth", "--documents", pdf, "--out", tmp_path / "out", "--endpoint", mlx_server)
    assert result.returncode == exitcodes.BAD_INPUT, result.stdout + result.stderr
    assert "locked.pdf" in result.stderr and "is protected by a password" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_second_worker_on_the_same_folder_is_refused(proxy, tmp_path):
    folder, server = tmp_path / "busy", proxy(hold_at=1)
    folder.mkdir()
    path = instructions(tmp_path, 3)
    first = jobs.start(jobs.SynthJob(run=str(folder), recipe=Recipe(instructions=path, endpoint=server.url,
                                                                     max_tokens=16).to_dict()))
    try:
        assert server.held.wait(WAIT), "the first worker never asked the server"
        result = tailor("data", "synth", path, "--out", folder, "--endpoint", server.url, "--max-tokens", 16)
        assert result.returncode == exitcodes.BAD_INPUT, result.stdout + result.stderr
        assert f"{folder.name} is being filled with examples by another Tailor (process {first.pid})" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        server.release.set()
        assert [e["type"] for e in jobs.events(first)][-1] == "done" and first.returncode == exitcodes.DONE
    finally:
        first.kill()
        first.wait(WAIT)
    assert_each_index_once(folder, 3)


@pytest.mark.parametrize("mid_answer", [False, True], ids=["server-silent", "answer-streaming"])
def test_pause_stops_in_the_middle_of_an_answer_and_it_is_made_on_resume(proxy, tmp_path, mid_answer):
    folder, recipe = tmp_path / "paused", {"instructions": instructions(tmp_path, 3), "max_tokens": 8192}
    server = proxy(hold_at=2, mid_answer=mid_answer)  # the second example: the first is written whole
    process = start(folder, endpoint=server.url, **recipe)
    watchdog = threading.Timer(2 * WAIT, process.kill)
    watchdog.start()
    try:
        assert server.held.wait(WAIT), "the second answer was never asked for"
        process.send_signal(signal.SIGINT)  # what Pause sends
        events = list(jobs.events(process))
        assert not server.let_go.is_set(), "the worker waited for the held answer instead of stopping"
        assert process.returncode == exitcodes.STOPPED, events[-3:]
    finally:
        watchdog.cancel()
        process.kill()
        process.wait(WAIT)
    assert events[-1]["type"] == "done" and events[-1]["stopped"]
    assert [row["index"] for row in lines(folder / "examples.jsonl")] == [0]  # nothing half-made is kept
    assert len(lines(folder / "dataset.jsonl")) == 1
    server.release.set()
    code, events = run(folder, endpoint=proxy().url, **{**recipe, "max_tokens": 16})
    assert code == exitcodes.DONE, events[-1]
    assert_each_index_once(folder, 3)


def refusing(words: str, status: int = 400):
    """A server that refuses the chats asking about `words`, in the shape OpenAI's API gives errors in."""
    error = {"error": {"message": "This model's maximum context length is 2048 tokens", "type": "invalid_request_error",
                       "code": "context_length_exceeded"}}
    return lambda chat: (status, error) if words in json.dumps(chat) else None


def test_a_question_the_server_refuses_is_left_out_and_asked_again_on_resume(proxy, tmp_path):
    path = tmp_path / "instructions.txt"
    path.write_text("How do I water a fern?\nWhy is my long question refused?\nWhen should I repot a cactus?\n")
    folder = tmp_path / "refused"
    code, events = run(folder, instructions=str(path), endpoint=proxy(refuse=refusing("refused")).url, max_tokens=16)
    assert code == exitcodes.DONE, events[-1]
    rows = lines(folder / "examples.jsonl")
    assert {"index": 1, "deleted": True, "problem": "This model's maximum context length is 2048 tokens"} in rows
    warnings = [e["message"] for e in events if e["type"] == "log" and e.get("level") == "warning"]
    assert warnings == ["Left out question 2: the model server refused it: This model's maximum context length is "
                        "2048 tokens"]
    assert len(lines(folder / "dataset.jsonl")) == 2 and events[-1]["result"]["examples"] == 2
    code, events = run(folder, instructions=str(path), endpoint=proxy().url, max_tokens=16)
    assert code == exitcodes.DONE and events[-1]["result"]["new"] == 1
    assert len(lines(folder / "dataset.jsonl")) == 3


def test_every_question_refused_fails_in_the_servers_words(proxy, tmp_path):
    code, events = run(tmp_path / "all-refused", instructions=instructions(tmp_path, 2), max_tokens=16,
                       endpoint=proxy(refuse=refusing("messages")).url)
    assert code == exitcodes.FAILED
    assert events[-1]["message"] == ("The model server refused every question: This model's maximum context length "
                                     "is 2048 tokens")
    assert "{" not in events[-1]["message"] + events[-1]["fix"]


def test_a_server_answering_503_is_a_server_that_cannot_answer_now(proxy, tmp_path):
    server = proxy(refuse=refusing("messages", status=503))
    code, events = run(tmp_path / "loading", instructions=instructions(tmp_path, 2), endpoint=server.url,
                       max_tokens=16)
    assert code == exitcodes.BAD_INPUT and len(server.chats) == 2  # tried once more, then gave up
    address = server.url.removesuffix("/v1")
    assert events[-1]["message"] == (f"Cannot reach the model server at {address} (it answered 503: This model's "
                                     "maximum context length is 2048 tokens). Start it (open Ollama or LM Studio and "
                                     "its local server, or run mlx_lm server), then try again.")


def test_one_unreadable_document_among_good_ones_is_left_out_and_said(proxy, tmp_path):
    good = tmp_path / "notes.txt"
    good.write_text("The kettle boils water in two minutes.", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    folder = tmp_path / "some-bad"
    code, events = run(folder, way="documents", documents=[str(good), str(tmp_path / "empty.txt")], per_passage=1,
                       endpoint=proxy().url, max_tokens=16)
    assert code == exitcodes.DONE, events[-1]
    warnings = [e["message"] for e in events if e["type"] == "log" and e.get("level") == "warning"]
    assert warnings == ["Left out empty.txt: it has no text in it. Choose a file with writing in it, or leave this "
                        "one out."]
    assert [p["where"] for p in json.loads((folder / "passages.json").read_text())] == ["notes.txt, page 1"]
