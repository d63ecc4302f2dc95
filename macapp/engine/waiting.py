"""Waiting on a server without waiting forever: a blocking network call runs on a daemon thread while the caller looks
at the stop every quarter second, and gives up on a server that says nothing for longer than the silence limit.

A socket cannot be interrupted from another thread, and a server can accept a connection and never answer: the
thread is left to end on its own, and once it is given up on it is refused anything more (it writes nothing after).
"""

import os
import queue
import threading
import time

from .errors import Stopped

POLL = 0.25  # seconds between looks at the stop while the server says nothing
SILENCE = "TAILOR_SILENT_SECONDS"  # how long a server may say nothing; tests set it small
ANSWER = "TAILOR_ANSWER_SECONDS"  # how long a model may take over one answer before it is cut there
_END = object()


def silence_limit() -> float:
    """Seconds a server may say nothing before Tailor says so: about a minute."""
    return float(os.environ.get(SILENCE) or 60)


def socket_timeout() -> float:
    """A socket's own timeout: a little after the wait gives up, so that the wait says it and the thread then ends."""
    return silence_limit() + 5


def answer_limit() -> float:
    """Seconds one answer of a model may take before it is cut: long enough for 8,192 tokens at 15 a second."""
    return float(os.environ.get(ANSWER) or 600)


def seconds_words(seconds: float) -> str:
    return "1 second" if seconds == 1 else f"{seconds:g} seconds"


class Silent(Exception):
    """A server said nothing for `seconds` (it accepted the connection, or sent some, then went quiet)."""

    def __init__(self, seconds: float):
        super().__init__(f"nothing came for {seconds_words(seconds)}")
        self.seconds = seconds


class _GivenUp(Exception):
    """Raised in the thread of a call given up on, so that it takes and writes nothing more."""


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def watched(produce, should_stop, silence: float | None = None):
    """What `produce(put)` puts, item by item as it comes, `produce` running on a daemon thread. Raises Stopped within
    POLL seconds of `should_stop()`, Silent when nothing came for `silence` seconds (silence_limit() by default), and
    what `produce` raised; `put` raises in the thread once the caller stopped listening."""
    arrived: queue.Queue = queue.Queue()
    over = threading.Event()
    limit = silence_limit() if silence is None else silence

    def put(item) -> None:
        if over.is_set():
            raise _GivenUp()
        arrived.put(item)

    def run() -> None:
        try:
            produce(put)
            arrived.put(_END)
        except _GivenUp:
            pass
        except BaseException as error:  # handed to the waiting thread, which says what it means
            arrived.put(_Failed(error))

    threading.Thread(target=run, daemon=True).start()
    heard = time.monotonic()
    try:
        while True:
            if should_stop():  # looked at between items too: an endless stream has no pauses
                raise Stopped()
            try:
                item = arrived.get(timeout=POLL)
            except queue.Empty:
                if time.monotonic() - heard > limit:
                    raise Silent(limit) from None
                continue
            heard = time.monotonic()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        over.set()


def call(function, should_stop, silence: float | None = None):
    """function()'s result, waited for as `watched` waits: it raises Stopped or Silent instead of waiting on."""
    for result in watched(lambda put: put(function()), should_stop, silence):
        return result
