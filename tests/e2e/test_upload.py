"""Sharing on Hugging Face against a real HTTP hub on 127.0.0.1 (HF_ENDPOINT points at it) through real workers: every
file and the model card land in one commit, private unless asked; a bad token, a token that can only read, a name
under someone else's account and no token at all are each said plainly, with the exit code the README promises.

The keychain fixture's in-memory keyring stands in for the macOS Keychain; `tailor upload` runs in this process
(macapp.cli.main) so that it reads it, and starts its worker as it always does.
"""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from macapp import exitcodes, jobs
from macapp.cli import main
from macapp.engine.models import hub_token
from tests.hub_server import Hub

WRITE, READ = "hf_" + "w" * 34, "hf_" + "r" * 34


@pytest.fixture
def hub(keychain, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    with Hub() as server:
        server.accounts = {WRITE: ("sam", "write"), READ: ("sam", "read")}
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture
def run_dir(demo_run, tmp_path):
    """A copy of the session's demo run (trained, scored and fused), so an upload can only change the copy."""
    return shutil.copytree(demo_run[1], tmp_path / demo_run[1].name, ignore=shutil.ignore_patterns("checkpoints"))


def card_of(hub, repo: str) -> dict:
    return yaml.safe_load(hub.repos[repo]["README.md"].decode().split("---\n")[1])


def test_an_adapter_upload_through_a_worker_lands_every_file_and_the_card_privately(hub, run_dir):
    adapter = run_dir / "adapters"
    job = jobs.UploadJob(run=str(jobs.scratch_folder("upload")), folder=str(adapter), repo="sam/tiny-kitchen",
                         source=str(run_dir))
    process = jobs.start(job, secrets={"HF_TOKEN": WRITE})
    seen = list(jobs.events(process))
    assert process.returncode == exitcodes.DONE, seen[-3:]
    assert seen[-1]["result"] == {"url": f"{hub.url}/sam/tiny-kitchen", "user": "sam", "private": True}
    landed = hub.repos["sam/tiny-kitchen"]
    assert sorted(landed) == ["README.md", "adapter_config.json", "adapters.safetensors"]
    assert landed["adapters.safetensors"] == (adapter / "adapters.safetensors").read_bytes()
    assert "data" not in json.loads(landed["adapter_config.json"])  # no folder of this Mac is published
    assert card_of(hub, "sam/tiny-kitchen")["tags"] == ["mlx", "lora", "tailor"]
    assert "## Results" in landed["README.md"].decode() and hub.private["sam/tiny-kitchen"] is True
    assert not (adapter / "README.md").exists()  # the card went into the commit only
    for kept in ("job-upload.json", "events.jsonl", "worker.log"):  # the token reached the worker only
        assert WRITE not in (Path(job.run) / kept).read_text()


def test_an_existing_public_repository_stays_public_and_the_result_says_so(hub, run_dir, capsys):
    hub.add("sam/tiny-kitchen", run_dir / "adapters")
    hub.private["sam/tiny-kitchen"] = False  # made public earlier, on the hub's own page
    hub_token.save(WRITE)
    assert main(["upload", "--run", str(run_dir), "--repo", "sam/tiny-kitchen", "--what", "adapter"]) == exitcodes.DONE
    said = capsys.readouterr()
    assert said.out.strip() == f"{hub.url}/sam/tiny-kitchen" and hub.private["sam/tiny-kitchen"] is False
    assert "Uploaded: it is public, because it already was on Hugging Face: anyone can see it." in said.err


def test_tailor_upload_uses_the_kept_token_makes_the_model_first_and_a_public_one_when_asked(hub, run_dir, capsys):
    fused = run_dir / "exports" / "fused"
    shutil.rmtree(fused)  # not made yet: the upload's worker makes it first
    hub_token.save(WRITE)
    assert main(["upload", "--run", str(run_dir), "--repo", "sam/tiny-kitchen", "--public"]) == exitcodes.DONE
    assert capsys.readouterr().out.strip() == f"{hub.url}/sam/tiny-kitchen"
    landed = hub.repos["sam/tiny-kitchen"]
    assert (fused / "config.json").exists()
    assert set(landed) == {p.name for p in fused.iterdir()} | {"README.md"}
    assert "mlx_lm generate --model sam/tiny-kitchen" in landed["README.md"].decode()
    assert landed["README.md"] != (fused / "README.md").read_bytes()  # Tailor's card went up; mlx-lm's stays here
    assert hub.private["sam/tiny-kitchen"] is False


@pytest.mark.parametrize("token, repo, code, words", [
    ("hf_" + "x" * 34, "sam/tiny-kitchen", exitcodes.BAD_INPUT, "did not accept the token"),  # 401
    (READ, "sam/tiny-kitchen", exitcodes.BAD_INPUT, "This token can only read: make one with write access at "
                                                    "https://huggingface.co/settings/tokens"),
    (WRITE, "someone-else/tiny-kitchen", exitcodes.BAD_INPUT, "Name it sam/tiny-kitchen"),
    (None, "sam/tiny-kitchen", exitcodes.BAD_INPUT, "`tailor models login`"),
])
def test_a_refused_upload_says_why_in_plain_words(hub, run_dir, capsys, monkeypatch, token, repo, code, words):
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    assert main(["upload", "--run", str(run_dir), "--repo", repo, "--what", "adapter"]) == code
    said = capsys.readouterr()
    assert words in said.err and "Traceback" not in said.err and "{" not in said.err
    assert not hub.repos  # nothing was created
