"""`tailor upload` never takes the token on its command line, where every user's `ps` shows it: a value given to
--token is refused without being repeated, and --token alone asks for it (unseen at a terminal; read from stdin
otherwise), against the real HTTP hub of test_upload on 127.0.0.1."""

import io

from macapp import exitcodes
from macapp.cli import main
from tests.e2e.test_upload import WRITE, hub, run_dir  # noqa: F401 (its fixtures)


def test_a_token_written_on_the_command_line_is_refused_and_not_repeated(hub, run_dir, capsys):  # noqa: F811
    given = ["upload", "--run", str(run_dir), "--repo", "sam/tiny-kitchen", "--what", "adapter", "--token", WRITE]
    assert main(given) == exitcodes.BAD_INPUT
    said = capsys.readouterr()
    assert "--token takes no value" in said.err and "ps" in said.err and "tailor models login" in said.err
    assert WRITE not in said.err + said.out and "Traceback" not in said.err
    assert not hub.repos


def test_token_alone_asks_for_it_and_the_upload_uses_it(hub, run_dir, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setattr("sys.stdin", io.StringIO(WRITE + "\n"))  # what a person types (getpass at a terminal)
    given = ["upload", "--run", str(run_dir), "--repo", "sam/tiny-kitchen", "--what", "adapter", "--token"]
    assert main(given) == exitcodes.DONE
    assert capsys.readouterr().out.strip() == f"{hub.url}/sam/tiny-kitchen"
    assert "adapters.safetensors" in hub.repos["sam/tiny-kitchen"]


def test_the_help_says_where_the_token_comes_from(capsys):
    try:
        main(["upload", "--help"])
    except SystemExit:
        pass
    shown = " ".join(capsys.readouterr().out.split())
    assert "typed unseen" in shown and "HF_TOKEN" in shown and "tailor models login" in shown
