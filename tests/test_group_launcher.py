"""How the launcher of a group says the way it ended, from how mlx.launch saw each process end: the process that
stopped answering or was killed named, whichever rank it is; the consequences (ended by the launcher, or giving up
on silent others) never taken for the cause. The real groups are in tests/e2e/test_group_cli.py."""

import signal

import pytest

from macapp import exitcodes
from macapp.engine.train import group
from macapp.group import launcher

WHO = ["Process 1 of the 2 training together", "Process 2 of the 2 training together"]


def ended(how: dict, frozen=()) -> launcher.Group:
    followed = launcher.Group()
    followed.ended, followed.frozen = how, set(frozen)
    return followed


@pytest.mark.parametrize("how, frozen, words", [
    ({1: group.SILENT, 0: -signal.SIGKILL}, {0}, "Process 1 of the 2 training together stopped answering (it was "
                                                 "paused, or stuck), so the others stopped too."),
    ({0: group.SILENT, 1: -signal.SIGKILL}, {1}, "Process 2 of the 2 training together stopped answering"),
    ({0: -signal.SIGKILL, 1: 128 + signal.SIGTERM}, (), "Process 1 of the 2 training together was killed by signal 9"),
    ({1: -signal.SIGKILL, 0: exitcodes.FAILED}, (), "Process 2 of the 2 training together was killed by signal 9"),
    ({1: 3, 0: "killed"}, (), "Process 2 of the 2 training together ended with exit code 3"),
])
def test_the_process_that_ended_the_group_is_named(how, frozen, words):
    code, said = launcher._outcome(ended(how, frozen), WHO, hosts=False)
    assert code == exitcodes.FAILED and said.startswith(words)


def test_a_mac_that_stopped_answering_is_said_as_such():
    code, said = launcher._outcome(ended({0: group.SILENT}, {1}), ["The process on this Mac",
                                                                          "The process on mini"], hosts=True)
    assert said == ("The process on mini stopped answering (its Mac may have frozen, gone to sleep or left the "
                    "network), so the others stopped too.")


@pytest.mark.parametrize("how, code", [
    ({}, exitcodes.DONE),
    ({0: exitcodes.STOPPED, 1: 128 + signal.SIGTERM}, exitcodes.STOPPED),  # a stop: the first one said it
    ({0: exitcodes.FAILED, 1: "killed"}, exitcodes.FAILED),
    ({0: exitcodes.BAD_INPUT, 1: -signal.SIGTERM}, exitcodes.BAD_INPUT),
    ({0: group.SILENT, 1: group.SILENT}, exitcodes.FAILED),  # each heard nothing: the first one said so
])
def test_what_the_first_process_said_itself_is_not_said_again(how, code):
    assert launcher._outcome(ended(how), WHO, hosts=False) == (code, None)
