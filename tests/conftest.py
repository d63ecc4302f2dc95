"""Shared fixtures: an isolated data home, the demo model built once per session, demo data, tiny models of
real families (Llama 3, Qwen2.5, Mistral, Phi-3) with their real tokenizers, an `mlx_lm server` on the demo model,
and a stand-in ssh for other Macs.

`make test` runs the suite with the system OpenBLAS preloaded (as `tailor` runs itself), since
MLX's CPU backend is ~50x slower without it.
"""

import contextlib
import functools
import io
import os
from pathlib import Path

import pytest

from tests.helpers import tailor


@pytest.hookimpl(trylast=True)  # after pytest's own, which makes its temporary folders ready
def pytest_configure(config):
    """Every test, and every process it starts, keeps its runs and models in a temporary home."""
    os.environ["TAILOR_HOME"] = str(config._tmp_path_factory.mktemp("tailor-home"))


def pytest_collection_finish(session):
    """The demo model is built before the first test that needs it, outside every test's time limit: its minute of
    pre-training can take many on a busy machine, and a session fixture that ran out of time fails every test after."""
    if any("demo_model" in getattr(item, "fixturenames", ()) for item in session.items):
        from macapp.engine.models import demo_build

        with contextlib.redirect_stdout(io.StringIO()):  # mlx-lm's table of the pre-training steps
            demo_build.ensure_model()


@pytest.fixture(scope="session", autouse=True)
def tailor_home():
    """The temporary home of the session's runs and models."""
    return Path(os.environ["TAILOR_HOME"])


@pytest.fixture(scope="session")
def demo_model(tailor_home):
    from macapp.engine.models import demo_build

    return demo_build.ensure_model()


@pytest.fixture(scope="session")
def demo_data(demo_model, tmp_path_factory):
    """The demo replies, prepared into train/valid/test."""
    from macapp.engine.data import datasets
    from macapp.engine.models import demo

    folder = tmp_path_factory.mktemp("demo-data")
    datasets.prepare([demo.REPLIES], folder, (0.8, 0.1, 0.1), seed=0)
    return folder


@pytest.fixture(scope="session")
def demo_run(demo_model):
    """`tailor demo` run once for the session: its output and run folder."""
    result = tailor("demo", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    from macapp.engine.runs import runs

    (run,) = [r for r in runs.list_runs() if r["id"].endswith("-demo")]
    return result, Path(run["path"])


@pytest.fixture
def run_copy(demo_run, tmp_path):
    """A copy of the demo run without its scores, verdicts and picks, so a test's own do not replace the demo's."""
    import shutil

    from macapp.engine.evaluate.judge import JUDGEMENTS_FILE

    _, run_dir = demo_run
    copy = shutil.copytree(run_dir, tmp_path / run_dir.name)
    for name in ("report.json", "report.html", JUDGEMENTS_FILE, "picks.jsonl"):
        (copy / name).unlink(missing_ok=True)
    return copy


@pytest.fixture(scope="session")
def family_model(request):
    """`family_model("llama3")` (or "qwen2", "mistral", "phi3"): the folder of a tiny random-weight model of that
    family with its real tokenizer and chat template, built on first use and kept in pytest's cache across sessions."""
    from tests import families

    if missing := families.missing_sources():
        pytest.skip(f"{len(missing)} tokenizer files are missing from {families.SOURCES} (first {missing[0]}): "
                    "`make test` downloads and extracts them")
    cache = request.config.cache.mkdir("tailor-families")
    return functools.cache(lambda name: families.build(name, cache))


@pytest.fixture(scope="session")
def mlx_server(demo_model):
    """`mlx_lm server` serving the demo model on 127.0.0.1 for the whole session: its /v1 URL."""
    from tests.helpers import mlx_lm_server

    with mlx_lm_server(demo_model) as url:
        yield url


@pytest.fixture
def keychain(monkeypatch):
    """keyring with an in-memory backend: it stands in for the macOS Keychain, which these machines do not have.
    Nothing is kept at first, and HF_TOKEN is unset, so the token is whatever the test keeps."""
    import keyring
    from keyring.backend import KeyringBackend

    class Memory(KeyringBackend):
        priority = 1

        def __init__(self):
            super().__init__()
            self.kept = {}

        def get_password(self, service, username):
            return self.kept.get((service, username))

        def set_password(self, service, username, password):
            self.kept[(service, username)] = password

        def delete_password(self, service, username):
            self.kept.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(Memory())
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield
    keyring.set_keyring(previous)


OTHER_MAC_SSH = """
while [ $# -gt 0 ]; do case "$1" in -o) shift 2;; -*) shift;; *) break;; esac; done
host="$1"; shift
case ",$FAKE_UNREACHABLE," in *",$host,"*)
  echo "ssh: connect to host $host port 22: Connection refused" >&2; exit 255;; esac
case ",$FAKE_WITHOUT_TAILOR," in *",$host,"*)
  echo "bash: line 1: $1: No such file or directory" >&2; exit 127;; esac
export TAILOR_HOME="$FAKE_MACS/$host" SSH_CONNECTION="127.0.0.1 50000 127.0.0.1 22" OPENBLAS_NUM_THREADS=1
/bin/bash -c "stty() { :; }; $*"
status=$?
[ $status -gt 128 ] && exit 255  # what ssh says when the command on the other side was killed
exit $status
"""


@pytest.fixture
def other_macs(tmp_path):
    """The environment in which `ssh NAME` reaches "another Mac": a stand-in for ssh (a second Mac cannot exist here)
    that runs the command on this computer with a Tailor folder of its own (FAKE_MACS/NAME, so it has none of this
    Mac's runs or models) and the address SSH would give it (127.0.0.1), under the stand-in's process as under ssh
    (a stop sent to this Mac's processes does not reach it). Names in FAKE_UNREACHABLE cannot be reached; those in
    FAKE_WITHOUT_TAILOR have no Tailor."""
    from tests.helpers import fake_commands

    return {**os.environ, "PATH": fake_commands(tmp_path / "bin", ssh=OTHER_MAC_SSH),
            "FAKE_MACS": str(tmp_path / "macs"), "OPENBLAS_NUM_THREADS": "1"}
