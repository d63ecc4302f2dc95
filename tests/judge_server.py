"""A stand-in judge: a real OpenAI-compatible HTTP server on 127.0.0.1 that judges by a rule the test knows.

A judge model capable enough to compare answers cannot run on the test machines, so the verdict arithmetic (the order
swap, ties, unreadable replies, resuming) is tested against this server; the mechanics with a real model are tested
with `mlx_lm server` on the demo model.
"""

import contextlib
import json
import re
import threading

from macapp.engine.models import demo
from tests.helpers import QuietHandler, local_server

ASKED = re.compile(r"Question:\n(?P<prompt>.*?)\n\n.*Answer 1:\n(?P<first>.*?)\n\nAnswer 2:\n(?P<second>.*?)\n\n"
                   r"Which answer", re.DOTALL)
NAME = "stand-in-judge"


def prefers_signed(prompt: str, first: str, second: str) -> str:
    """Prefers the answer signed as the demo signs, whichever place it is shown in."""
    signed = [text.rstrip().endswith(demo.SIGNATURE) for text in (first, second)]
    if signed[0] == signed[1]:
        return "Better: same\nBoth are signed alike."
    return f"Better: {1 if signed[0] else 2}\nIt is signed as the examples are."


def always_first(prompt: str, first: str, second: str) -> str:
    """A judge that always picks the answer shown first: the order swap must turn it into ties."""
    return "Better: 1\nThe first answer is better."


class StandInJudge:
    """The server, with the rule it judges by and every question it answered; `unreadable`: prompts (by a piece of
    their text) whose reply names no choice; `die_after`: answers after which it closes every connection unanswered,
    as a server that was killed (until it is set to None again)."""

    def __init__(self, rule=prefers_signed, unreadable=(), die_after=None):
        self.rule, self.unreadable, self.die_after, self.asked = rule, tuple(unreadable), die_after, []
        self.lock = threading.Lock()

    def reply(self, body: dict) -> str | None:
        found = ASKED.search(body["messages"][-1]["content"])
        with self.lock:
            if self.die_after is not None and len(self.asked) >= self.die_after:
                return None
            self.asked.append((found["prompt"], found["first"], found["second"]))
        if any(piece in found["prompt"] for piece in self.unreadable):
            return "I would rather not say."
        return self.rule(found["prompt"], found["first"], found["second"])

    @contextlib.contextmanager
    def serving(self):
        """Serve on 127.0.0.1; yields the /v1 address."""
        judge = self

        class Handler(QuietHandler):
            def do_GET(self):
                self.answer({"object": "list", "data": [{"id": NAME}]} if self.path == "/v1/models" else b"", 200
                            if self.path == "/v1/models" else 404)

            def do_POST(self):
                try:
                    body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                except ValueError:  # a request Tailor gave up on while sending it
                    return
                text = judge.reply(body)
                if text is None:
                    self.close_connection = True
                    return
                self.answer({"choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": text}}]})

        with local_server(Handler) as address:
            yield f"http://{address}/v1"
