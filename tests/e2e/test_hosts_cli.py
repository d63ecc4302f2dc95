"""`tailor train --hosts`: a run trained on two Macs through mlx.launch, each checked and given its files over SSH.

A second Mac cannot exist here: a stand-in `ssh` runs the command on this computer as "the other Mac", with a Tailor
folder of its own (so it has none of this Mac's runs or models) and the address SSH would give it (127.0.0.1). All
the rest is real: the checks, the copies (a tar stream through the stand-in's stdin), mlx.launch, the ring, training.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from macapp.engine import runs
from tests.helpers import REPO, fake_commands, tailor

FLAGS = ["--model", "demo", "--iters", "12", "--batch-size", "4", "--steps-per-report", "1", "--steps-per-eval", "6",
         "--val-batches", "1", "--save-every", "4", "--max-seq-length", "128", "--learning-rate", "1e-3"]
SSH = """
while [ $# -gt 0 ]; do case "$1" in -o) shift 2;; -*) shift;; *) break;; esac; done
host="$1"; shift
case ",$FAKE_UNREACHABLE," in *",$host,"*)
  echo "ssh: connect to host $host port 22: Connection refused" >&2; exit 255;; esac
export TAILOR_HOME="$FAKE_MACS/$host" SSH_CONNECTION="127.0.0.1 50000 127.0.0.1 22" OPENBLAS_NUM_THREADS=1
exec /bin/bash -c "stty() { :; }; $*"
"""


@pytest.fixture
def other_macs(tmp_path):
    """The environment in which `ssh NAME` reaches "another Mac" (this computer, with its own Tailor folder)."""
    return {**os.environ, "PATH": fake_commands(tmp_path / "bin", ssh=SSH), "FAKE_MACS": str(tmp_path / "macs"),
            "OPENBLAS_NUM_THREADS": "1"}


def run_folder(name: str) -> Path:
    return Path(next(r["path"] for r in runs.list_runs() if r["id"].endswith(f"-{name}")))


def losses(folder: Path) -> dict[int, float]:
    return {e["iteration"]: e["train_loss"] for e in runs.read_events(folder) if e["type"] == "train"}


def test_two_macs_train_a_run_as_one_would(demo_data, other_macs, tmp_path):
    alone = tailor("train", "--data", demo_data, "--name", "alone", *FLAGS)
    assert alone.returncode == 0, alone.stderr[-2000:]
    together = tailor("train", "--data", demo_data, "--name", "two-macs", *FLAGS, "--hosts", "mini", env=other_macs)
    assert together.returncode == 0, together.stderr[-3000:]
    assert "Copying the run's files to mini" in together.stderr
    folder, expected = run_folder("two-macs"), losses(run_folder("alone"))
    got = losses(folder)
    assert sorted(got) == sorted(expected)
    for step, loss in expected.items():
        assert got[step] == pytest.approx(loss, rel=1e-3), step
    hosts = json.loads((folder / "hosts.json").read_text())
    assert [h["ssh"] for h in hosts["hosts"]] == ["127.0.0.1", "mini"]
    # The other Mac got its own copy of what training reads, at its own paths, and wrote nothing of the run's.
    copy = tmp_path / "macs" / "mini" / "group" / "runs" / folder.name
    settings = yaml.safe_load((copy / "config.yaml").read_text())
    assert settings["data"] == str(copy / "data") and Path(settings["model"]).parent == copy.parents[1] / "models"
    assert (copy / "data" / "train.jsonl").read_bytes() == (folder / "data" / "train.jsonl").read_bytes()
    written = {str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file()}
    assert written == {"config.yaml", "job-train.json", *(f"data/{p.name}" for p in (folder / "data").iterdir())}
    assert (folder / "adapters" / "adapters.safetensors").exists()


def test_macs_that_cannot_train_together_are_refused_before_anything_starts(demo_data, other_macs):
    result = tailor("train", "--data", demo_data, "--name", "unreachable", *FLAGS, "--hosts", "mini,office",
                    env={**other_macs, "FAKE_UNREACHABLE": "office"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Tailor cannot reach office over SSH (ssh: connect to host office port 22: Connection refused)" \
        in result.stderr
    assert "Remote Login" in result.stderr and "Traceback" not in result.stderr
    assert not [r for r in runs.list_runs() if r["id"].endswith("-unreachable")]
    odd = tailor("train", "--data", demo_data, "--name", "odd", *FLAGS, "--batch-size", "3", "--hosts", "mini",
                 env=other_macs)
    assert odd.returncode == 2 and "batch size (3) must be a multiple of 2" in odd.stderr, odd.stderr[-2000:]
