"""`tailor train --hosts`: a run trained on two Macs through mlx.launch, each checked and given its files over SSH.

A second Mac cannot exist here: the `other_macs` stand-in for ssh (tests/conftest.py) runs the command on this
computer as "the other Mac". All the rest is real: the checks, the copies (a tar stream through the stand-in's stdin),
mlx.launch, the ring, training. A name ssh would read as one of its options never reaches it.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from macapp.engine.models import demo, models
from macapp.engine.runs import runs
from tests.helpers import REPO, fake_commands, losses, run_folder, tailor, train_until_checkpoint

FLAGS = ["--model", "demo", "--iters", "12", "--batch-size", "4", "--steps-per-report", "1", "--steps-per-eval", "6",
         "--val-batches", "1", "--save-every", "4", "--max-seq-length", "128", "--learning-rate", "1e-3"]


def test_two_macs_train_a_run_as_one_would(demo_data, other_macs, tmp_path):
    alone = tailor("train", "--data", demo_data, "--name", "macs-alone", *FLAGS)
    assert alone.returncode == 0, alone.stderr[-2000:]
    together = tailor("train", "--data", demo_data, "--name", "two-macs", *FLAGS, "--hosts", "mini", env=other_macs)
    assert together.returncode == 0, together.stderr[-3000:]
    assert "Copying the run's files to mini" in together.stderr
    folder, expected = run_folder("two-macs"), losses(run_folder("macs-alone"))
    got = losses(folder)
    assert sorted(got) == sorted(expected)
    for step, loss in expected.items():
        assert got[step] == pytest.approx(loss, rel=1e-3), step
    memory = [e for e in runs.read_events(folder) if e["type"] == "memory"]
    assert memory and all([p["name"] for p in e["processes"]] == ["this Mac", "mini"] for e in memory)
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
    result = tailor("train", "--data", demo_data, "--name", "macs-unreachable", *FLAGS, "--hosts", "mini,office,attic",
                    env={**other_macs, "FAKE_UNREACHABLE": "office", "FAKE_WITHOUT_TAILOR": "attic"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "The Macs cannot train together yet:" in result.stderr
    assert "- Tailor cannot reach office over SSH (ssh: connect to host office port 22: Connection refused). Check " \
        in result.stderr
    assert f"- Tailor is not installed on attic where it is on this Mac ({sys.executable})." in result.stderr
    assert "Remote Login" in result.stderr and "Install Tailor on attic" in result.stderr
    assert "Traceback" not in result.stderr
    assert not [r for r in runs.list_runs() if r["id"].endswith("-macs-unreachable")]
    odd = tailor("train", "--data", demo_data, "--name", "macs-odd", *FLAGS, "--batch-size", "3", "--hosts", "mini",
                 env=other_macs)
    assert odd.returncode == 2 and "batch size (3) must be a multiple of 2" in odd.stderr, odd.stderr[-2000:]


@pytest.mark.parametrize("in_file", [False, True])
def test_a_name_that_ssh_would_read_as_an_option_never_reaches_it(other_macs, tmp_path, in_file):
    # The stand-in for ssh writes down every call: there is none. OpenSSH would run a ProxyCommand as a local command.
    hosts = f"-oProxyCommand=touch {tmp_path / 'pwned'}"
    if in_file:
        (tmp_path / "hosts.json").write_text(json.dumps({"hosts": [{"ssh": "mini"}, {"ssh": hosts}]}, indent=1))
    calls = tmp_path / "ssh-calls"
    env = {**other_macs, "PATH": fake_commands(tmp_path / "logged", ssh=f'echo "$@" >> {calls}\nexit 255\n')}
    result = tailor("train", "--data", demo.REPLIES, "--name", "macs-option", *FLAGS, "--hosts",
                    tmp_path / "hosts.json" if in_file else hosts, env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    where = f"{tmp_path / 'hosts.json'}:7: hosts[1].ssh: " if in_file else "--hosts: "
    assert f"{where}'-oProxyCommand=touch" in result.stderr and "is not a Mac's name or address" in result.stderr
    assert "sam@mini.local" in result.stderr and "Traceback" not in result.stderr
    assert not calls.exists() and not (tmp_path / "pwned").exists()
    assert not [r for r in runs.list_runs() if r["id"].endswith("-macs-option")]


def test_a_stop_ends_every_mac_saved_and_the_run_resumes_exactly_on_them(demo_data, other_macs, tmp_path):
    longer = [*FLAGS, "--iters", "40"]
    whole = tailor("train", "--data", demo_data, "--name", "macs-whole", *longer, "--hosts", "mini", env=other_macs)
    assert whole.returncode == 0, whole.stderr[-2000:]
    group, folder = train_until_checkpoint("macs-stopped", "--data", demo_data, *longer, "--hosts", "mini",
                                           env=other_macs)
    group.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal does: it reaches this Mac's process only
    _, stderr = group.communicate(timeout=60)
    assert group.returncode == 130, stderr[-2000:]
    assert "stopped; what was done so far is saved" in stderr and "Traceback" not in stderr
    assert runs.read_events(folder)[-1]["stopped"]
    assert not [p for p in psutil.process_iter(["cmdline"]) if folder.name in " ".join(p.info["cmdline"] or [])]

    resumed = tailor("train", "--resume", folder.name, "--hosts", "mini", env=other_macs)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    copy = tmp_path / "macs" / "mini" / "group" / "runs" / folder.name
    assert [p.name for p in (copy / "checkpoints").iterdir()]  # the other Mac resumed from the same checkpoint
    restart = next(e for e in runs.read_events(folder) if e["type"] == "log"
                   and e["message"].startswith("Resuming from step"))
    step = int(restart["message"].rsplit(" ", 1)[1])
    expected, got = losses(run_folder("macs-whole")), losses(folder)
    assert sorted(got)[-1] == 40
    for iteration in range(step + 1, 41):
        assert got[iteration] == pytest.approx(expected[iteration], rel=1e-5), iteration


def other_mac_process(macs: str) -> psutil.Process | None:
    """The worker "the other Mac" runs (under the stand-in for ssh, with its own Tailor folder)."""
    for process in psutil.process_iter(["cmdline", "environ"]):
        environ = process.info["environ"] or {}
        if "--group" in (process.info["cmdline"] or []) and environ.get("TAILOR_HOME", "").startswith(macs):
            return process
    return None


def test_the_other_mac_lost_stops_the_group_plainly(demo_data, other_macs):
    group = subprocess.Popen([sys.executable, "-m", "macapp", "train", "--data", str(demo_data), "--name", "macs-lost",
                              *FLAGS, "--iters", "400", "--hosts", "mini"], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=other_macs)
    deadline, other = time.monotonic() + 300, None
    while time.monotonic() < deadline and other is None:
        other = other_mac_process(other_macs["FAKE_MACS"])
        time.sleep(0.2)
    assert other is not None, "the other Mac's process never started"
    other.kill()
    _, stderr = group.communicate(timeout=60)  # ends at once, never waits on the lost Mac
    assert group.returncode == 1, stderr[-2000:]
    assert "The process on mini ended or lost its connection to this Mac (it may have run out of memory, gone to " \
        "sleep or left the network), so the others stopped too." in stderr
    assert "--hosts mini" in stderr and "Traceback" not in stderr


def test_a_downloaded_models_links_reach_the_other_mac_as_files(other_macs, tmp_path, monkeypatch):
    from macapp.group import hosts

    blob = tmp_path / "cache" / "blobs" / "0a1b"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"weights")
    snapshot = tmp_path / "cache" / "snapshots" / "main"
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").symlink_to("../../blobs/0a1b")  # as the Hugging Face cache keeps a model
    (tmp_path / "config.yaml").write_text("model: x\n")
    for key in ("PATH", "FAKE_MACS"):
        monkeypatch.setenv(key, other_macs[key])
    mac = hosts.Mac("mini", {"ssh": "mini", "ips": [], "rdma": []})
    said = []
    hosts.copy_to(mac, "run-1", [(snapshot, "models/f00d"), (tmp_path / "config.yaml", "runs/run-1/config.yaml")],
                        said.append)
    arrived = tmp_path / "macs" / "mini" / "group" / "models" / "f00d" / "model.safetensors"
    assert not arrived.is_symlink() and arrived.read_bytes() == b"weights"
    assert said == ["Copying the run's files to mini (0 MB)"]


def test_a_4_bit_llama_3_trains_on_two_macs_as_on_one(demo_data, other_macs, family_model):
    """What users bring: a Llama 3 (its real tokenizer and template) trained 4-bit. The quantized copy is made on this
    Mac; the other one trains on the same (here it finds it at the same path, as the stand-in shares this disk)."""
    flags = ["--model", family_model("llama3"), "--data", demo_data, "--quantize-base", "4", "--iters", "2",
             "--batch-size", "2", "--max-seq-length", "64", "--steps-per-eval", "2", "--val-batches", "1",
             "--steps-per-report", "1", "--learning-rate", "1e-3"]
    alone = tailor("train", *flags, "--name", "llama-alone", timeout=900)
    assert alone.returncode == 0, alone.stderr[-2000:]
    together = tailor("train", *flags, "--name", "llama-two-macs", "--hosts", "mini", env=other_macs, timeout=900)
    assert together.returncode == 0, together.stderr[-3000:]
    expected, got = losses(run_folder("llama-alone")), losses(run_folder("llama-two-macs"))
    assert sorted(got) == sorted(expected) == [1, 2]
    for step, loss in expected.items():
        assert got[step] == pytest.approx(loss, rel=1e-3), step
    folder = run_folder("llama-two-macs")
    quantized = Path(yaml.safe_load((folder / "config.yaml").read_text())["model"])
    theirs = Path(other_macs["FAKE_MACS"]) / "mini" / "group"
    model = Path(yaml.safe_load((theirs / "runs" / folder.name / "config.yaml").read_text())["model"])
    assert quantized != Path(family_model("llama3")) and models.fingerprint(model) == models.fingerprint(quantized)
