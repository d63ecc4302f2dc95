"""Made data without a model: the examples log (flags, edits, deletions, a cut line), the folders kept, the recipe's
checks, questions read out of a model's list, and the servers found on this Mac.
"""

import json
import os
import socket

import pytest

from macapp.engine import files
from macapp.engine.data import endpoints, made_data, question_lists, synthesis
from macapp.engine.data.chat_sources import EndpointChat, ServerLost
from macapp.engine.data.made_data import Example
from macapp.engine.data.recipe import OTHER_MAKING, Recipe
from macapp.engine.errors import DataError, InputError, RunFailed
from tests import workbooks
from tests.helpers import QuietHandler, local_server


def chat(question, answer, second=None):
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return messages + ([{"role": "user", "content": "And then?"}, {"role": "assistant", "content": second}]
                       if second is not None else [])


def test_flags_empty_cut_long_and_repeated():
    examples = [Example(0, chat("How do I start?", "Begin small."), ["stop"]),
                Example(1, chat("What is rye?", "   "), ["stop"]),
                Example(2, chat("Why knead?", "Because gluten", "ok"), ["stop", "length"]),
                Example(3, chat("Tell me everything", "word " * 30), ["stop"]),
                Example(4, chat("how do I START", "Another answer."), ["stop"]),
                Example(5, chat("Something new here?", "begin, small!"), ["stop"]),
                Example(6, chat("Edited after a cut?", "Now whole."), ["length"], edited=True)]
    assert made_data.flags(examples, long_words=20) == {0: [], 1: ["empty"], 2: ["cut"], 3: ["long"],
                                                        4: ["repeat"], 5: ["repeat"], 6: []}


def write_examples(folder, count, source=None):
    for index in range(count):
        files.append_line(folder / made_data.EXAMPLES, {"index": index, "messages": chat(f"Question {index}?", "A."),
                                                       "finish": ["stop"], **({"source": source} if source else {})})


def test_edits_and_deletions_are_appended_and_the_newest_wins(tmp_path):
    write_examples(tmp_path, 3, source="guide.pdf, page 2")
    first = made_data.read(tmp_path)[0]
    changed = made_data.edit(tmp_path, first, [" Better question? ", "Better answer."])
    made_data.delete(tmp_path, [1])
    assert len((tmp_path / made_data.EXAMPLES).read_text().splitlines()) == 5  # nothing rewritten
    kept = made_data.read(tmp_path)
    assert [e.index for e in kept] == [0, 2]
    assert (kept[0].question, kept[0].answer, kept[0].edited) == ("Better question?", "Better answer.", True)
    assert kept[0] == changed and kept[0].source == "guide.pdf, page 2"
    assert made_data.indexes_written(tmp_path) == {0, 1, 2}
    path, count = made_data.save_dataset(tmp_path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert count == 2 and rows == [{"messages": kept[0].messages, "source": "guide.pdf, page 2"},
                                   {"messages": kept[1].messages, "source": "guide.pdf, page 2"}]


def test_a_deleted_example_is_not_made_again_on_resume(tmp_path, monkeypatch):
    asked = []

    def stand_in(messages, max_tokens):  # the model: answers with the question it was asked
        asked.append(messages[-1]["content"])
        return f"About {messages[-1]['content']}", "stop"

    monkeypatch.setattr(synthesis, "connect", lambda recipe, report, should_stop: stand_in)
    path = tmp_path / "instructions.txt"
    path.write_text("".join(f"Instruction number {i}\n" for i in range(4)))
    recipe = Recipe(instructions=str(path), endpoint="http://127.0.0.1:9/v1")
    result = synthesis.make(tmp_path / "made", recipe, should_stop=lambda: len(asked) >= 2)
    assert result["stopped"] and result["examples"] == 2
    made_data.delete(tmp_path / "made", [0])
    asked.clear()
    result = synthesis.make(tmp_path / "made", recipe)
    assert asked == ["Instruction number 2", "Instruction number 3"]
    assert [e.index for e in made_data.read(tmp_path / "made")] == [1, 2, 3] and result["examples"] == 3


def test_a_line_cut_by_a_kill_is_left_out_and_the_next_is_read_whole(tmp_path):
    write_examples(tmp_path, 2)
    path = tmp_path / made_data.EXAMPLES
    with open(path, "a") as handle:
        handle.write('{"index": 2, "messa')  # what a kill in the middle of a write leaves
    cut = path.read_bytes()
    assert [line["index"] for line in files.read_lines(path)] == [0, 1]
    assert path.read_bytes() == cut  # a reader never changes the file: the worker may be writing its line
    files.append_line(path, {"index": 2, "messages": chat("Again?", "Yes."), "finish": ["stop"]})  # the window
    assert [e.index for e in made_data.read(tmp_path)] == [0, 1, 2]


def test_a_worker_beginning_ends_the_line_its_predecessor_was_killed_writing(tmp_path):
    write_examples(tmp_path, 2)
    path = tmp_path / made_data.EXAMPLES
    with open(path, "a") as handle:
        handle.write('{"index": 2, "messa')
    made_data.repair(path)  # appends only: an edit the window appends meanwhile is never cut off
    ended = path.read_bytes()
    assert ended.endswith(b'{"index": 2, "messa\n')
    made_data.repair(path)  # a whole file is left as it is
    assert path.read_bytes() == ended
    assert made_data.indexes_written(tmp_path) == {0, 1}  # the cut one is made again
    files.append_line(path, {"index": 2, "messages": chat("Again?", "Yes."), "finish": ["stop"]})
    assert [e.index for e in made_data.read(tmp_path)] == [0, 1, 2]


def test_made_so_far_lists_each_folder_with_its_phase(tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path))
    ended = os.getpid() + 10_000_000  # no process has this id
    sessions = {"finished": [{"type": "started", "pid": ended}, {"type": "done", "result": {"examples": 2}}],
                "stopped": [{"type": "started", "pid": ended}, {"type": "done", "result": {"stopped": True}}],
                "failed": [{"type": "started", "pid": ended}, {"type": "error", "message": "Cannot reach"}],
                "interrupted": [{"type": "started", "pid": ended}, {"type": "progress", "done": 1, "total": 4}],
                "preparing": [{"type": "started", "pid": os.getpid()}]}
    for number, (phase, events) in enumerate(sessions.items()):
        folder = made_data.folders_root() / f"2026120{number}-{phase}"
        folder.mkdir(parents=True)
        (folder / made_data.RECIPE).write_text(json.dumps({"way": "topic", "topic": phase}))
        (folder / "events.jsonl").write_text("".join(json.dumps({**e, "kind": "synth", "time": 1.0}) + "\n"
                                                     for e in events))
        write_examples(folder, number)
    (made_data.folders_root() / "not-begun").mkdir()
    found = made_data.made_so_far()
    assert [(m.recipe["topic"], m.phase, m.examples) for m in found] == [
        ("preparing", "preparing", 4), ("interrupted", "interrupted", 3), ("failed", "failed", 2),
        ("stopped", "stopped", 1), ("finished", "finished", 0)]


@pytest.mark.parametrize("changes, words", [
    ({"way": "guess"}, "Unknown way to make data 'guess'"),
    ({"way": "topic", "topic": " a "}, "Describe the topic"),
    ({"way": "topic", "topic": "bread", "count": 0}, "Ask for between 1 and 5,000 examples."),
    ({"instructions": None}, "Choose the file with your instructions"),
    ({"way": "documents"}, "Choose the documents"),
    ({"way": "documents", "documents": ["a.pdf"], "per_passage": 21}, "between 1 and 20 questions"),
    ({"endpoint": None}, "Choose the model that writes the examples"),
    ({"model": "demo"}, "Choose the model that writes the examples"),
    ({"max_tokens": 8}, "between 16 and 8,192 tokens"),
    ({"temperature": 2.5}, "temperature must be between 0 and 2"),
])
def test_recipe_check_says_what_to_fill_in(changes, words):
    good = {"instructions": "i.txt", "endpoint": "http://127.0.0.1:11434/v1"}
    assert Recipe(**good).check() == Recipe(**good)
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(".", r"\.")):
        Recipe(**{**good, **changes}).check()


def test_questions_read_from_numbered_bulleted_and_quoted_lists():
    text = ("Here are some questions:\n1. How do I feed a starter?\n2) Why does my dough smell sour?\n"
            "- Can I freeze bread dough?\n* \u201cWhat flour is best for rye?\u201d\n"
            "Q3: Is it normal that the crust cracks?\n\"When should I add salt?\"\n\u2022 Ok?\n")
    assert question_lists.parse(text) == [
        "How do I feed a starter?", "Why does my dough smell sour?",
        "Can I freeze bread dough?", "What flour is best for rye?", "Is it normal that the crust cracks?",
        "When should I add salt?"]


def test_distinct_refuses_reworded_duplicates():
    kept = question_lists.Distinct(["How do I feed a sourdough starter?"])
    assert not kept.add("how do I feed a sourdough starter")  # case and punctuation
    assert not kept.add("A sourdough starter: how do I feed it?")  # the same words in another order
    assert not kept.add("How do I feed my sourdough starter?")  # one word changed
    assert kept.add("How long does a sourdough starter keep in the fridge?")
    assert not kept.add("?!")
    assert kept.kept == ["How do I feed a sourdough starter?", "How long does a sourdough starter keep in the fridge?"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_find_sees_the_real_mlx_server_and_passes_over_a_closed_port(mlx_server):
    nothing = f"http://127.0.0.1:{closed_port()}/v1"
    found = endpoints.find(usual=(("Ollama", nothing), ("mlx_lm server", mlx_server)))
    assert [(e.name, e.url) for e in found] == [("mlx_lm server", mlx_server)] and found[0].models
    assert found[0].words().startswith(f"mlx_lm server at {mlx_server.removesuffix('/v1')}")
    assert endpoints.find(usual=(("Ollama", nothing),)) == []


@pytest.mark.parametrize("typed", ["127.0.0.1:80 80", "my server:8080", "http://127.0.0.1:port/v1"])
def test_an_address_that_is_not_one_is_said_plainly(typed):
    with pytest.raises(InputError, match="^Nothing answers at .*that is not a valid address.*Start the server"):
        endpoints.models_of(typed, timeout=0.5)
    with pytest.raises(InputError, match="^Nothing answers at .*that is not a valid address"):
        EndpointChat(Recipe(endpoint=typed))([{"role": "user", "content": "Hello?"}], 16)


def test_a_closed_port_is_a_server_that_cannot_be_reached_in_plain_words():
    port = closed_port()
    with pytest.raises(ServerLost) as lost:
        EndpointChat(Recipe(endpoint=f"127.0.0.1:{port}"))([{"role": "user", "content": "Hello?"}], 16)
    assert str(lost.value) == (f"Cannot reach the model server at http://127.0.0.1:{port} (connection refused). Start "
                               "it (open Ollama or LM Studio and its local server, or run mlx_lm server), then try "
                               "again.")


@pytest.mark.parametrize("name, text", [
    ("questions.csv", "id,Question,Answer\n1,How do I water a fern?,Weekly.\n2,\"Why, and when, repot?\",Spring.\n"),
    ("questions.tsv", "prompt\tcategory\nHow do I water a fern?\tplants\nWhy, and when, repot?\tplants\n"),
    ("only.csv", "My questions\nHow do I water a fern?\n\"Why, and when, repot?\"\n"),
    ("book.xlsx", [("Questions for the shop",), ("Question", "Asked by"), ("How do I water a fern?", "Ann"),
                   ("Why, and when, repot?", "Bo")]),
])
def test_instructions_from_a_spreadsheets_column_of_questions(tmp_path, name, text):
    if name.endswith(".xlsx"):
        workbooks.xlsx(tmp_path / name, {"Sheet1": text})
    else:
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert synthesis.read_instructions(tmp_path / name) == ["How do I water a fern?", "Why, and when, repot?"]


def test_a_spreadsheet_without_a_column_of_questions_says_how_to_name_it(tmp_path):
    (tmp_path / "notes.csv").write_text("plant,care\nfern,water weekly\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        synthesis.read_instructions(tmp_path / "notes.csv")
    assert str(error.value) == (f"{tmp_path / 'notes.csv'}:1: Tailor cannot tell which column holds the questions "
                                "(the columns are plant, care) Fix: Name the column of questions \"question\", or "
                                "save the questions as a .txt file with one on each line.")


def test_an_item_that_is_not_text_is_said_plainly(tmp_path):
    (tmp_path / "list.json").write_text('["How do I start?", 42]', encoding="utf-8")
    with pytest.raises(DataError) as error:
        synthesis.read_instructions(tmp_path / "list.json")
    assert str(error.value) == (f"{tmp_path / 'list.json'} (item 2): is not a piece of text Fix: Write each "
                                "instruction in quotes, e.g. \"How do I \u2026?\"")


def test_a_folder_goes_on_only_with_what_it_was_making():
    kept = Recipe(way="topic", topic="ferns", endpoint="http://127.0.0.1:11434/v1").to_dict()
    assert Recipe(way="topic", topic=" ferns ", model="demo", temperature=1.0).same_making_as(kept)
    assert not Recipe(way="topic", topic="cacti", endpoint="x").same_making_as(kept)
    assert "topic" not in OTHER_MAKING.split(" from ")[0] and "per_passage" not in OTHER_MAKING


@pytest.fixture
def ollama_standin():
    """Ollama cannot run here: a stand-in that answers in its shapes only (an empty /v1/models, as older Ollama
    gives, and its own /api/tags)."""
    answers = {"/v1/models": {"object": "list", "data": []},
               "/api/tags": {"models": [{"name": "llama3.2:latest", "size": 2019393189},
                                        {"name": "qwen2.5:7b", "size": 4683087332}]}}

    class Handler(QuietHandler):
        def do_GET(self):
            self.answer(answers[self.path] if self.path in answers else b"404 page not found",
                        200 if self.path in answers else 404)

    with local_server(Handler) as address:
        yield address


def test_models_of_falls_back_to_ollamas_own_list(ollama_standin):
    assert endpoints.models_of(ollama_standin) == ["llama3.2:latest", "qwen2.5:7b"]
    (found,) = endpoints.find(usual=(("Ollama", endpoints.base_url(ollama_standin)),))
    assert found.words() == f"Ollama at http://{ollama_standin}: llama3.2:latest, qwen2.5:7b"


def test_models_of_says_plainly_that_nothing_answers():
    with pytest.raises(InputError, match="Nothing answers at http://127.0.0.1:.*Start the server first"):
        endpoints.models_of(f"127.0.0.1:{closed_port()}", timeout=0.5)


@pytest.mark.parametrize("typed, base", [
    ("localhost:11434", "http://localhost:11434/v1"),
    ("http://localhost:1234/", "http://localhost:1234/v1"),
    (" http://127.0.0.1:8080/v1/ ", "http://127.0.0.1:8080/v1"),
    ("http://127.0.0.1:8080/v1/chat/completions", "http://127.0.0.1:8080/v1"),
    ("https://example.org/v1", "https://example.org/v1"),
])
def test_base_url_as_people_type_it(typed, base):
    assert endpoints.base_url(typed) == base


def test_a_server_lost_while_writing_questions_keeps_them_and_says_so(tmp_path, monkeypatch):
    asked = []

    def stand_in(messages, max_tokens):  # the model: one list of questions, then its server goes away
        if asked:
            raise ServerLost("http://127.0.0.1:9", "connection refused")
        asked.append(messages)
        return "1. How do I water a fern?\n2. Why do fern leaves turn brown?\n", "stop"

    monkeypatch.setattr(synthesis, "connect", lambda recipe, report, should_stop: stand_in)
    with pytest.raises(RunFailed) as failed:
        synthesis.make(tmp_path, Recipe(way="topic", topic="ferns", count=20, endpoint="http://127.0.0.1:9/v1"))
    assert str(failed.value) == "Cannot reach the model server at http://127.0.0.1:9 (connection refused)."
    assert failed.value.fix == "The 2 questions written so far are kept: start the model server again, then go on " \
                               "from there."


def test_what_a_job_has_made_is_counted_in_words(tmp_path):
    assert made_data.made_words(tmp_path) == "nothing made yet" and not made_data.has_made(tmp_path)
    files.append_line(tmp_path / made_data.QUESTIONS_WRITTEN, {"step": 0, "questions": ["a?", "b?"]})
    files.append_line(tmp_path / made_data.QUESTIONS_WRITTEN, {"step": 1, "questions": ["c?"]})
    assert made_data.made_words(tmp_path) == "3 questions written, no examples yet" and made_data.has_made(tmp_path)
    files.append_line(tmp_path / made_data.EXAMPLES, {"index": 0, "finish": ["stop"], "messages": chat("a?", "A.")})
    assert made_data.made_words(tmp_path) == "1 example"
