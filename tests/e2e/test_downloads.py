"""Downloading a model as a person follows it, from a real HTTP hub on 127.0.0.1 (HF_ENDPOINT points at it) through
real worker processes: bytes and speed, a stop and a kill resumed, a damaged file refused, no room refused, a gated
model explained, a model in PyTorch's form converted, a silent hub said and a stop honoured while it is silent; and
models already on the computer found and used.
"""

import shutil
import signal
import time

import mlx.core as mx
import pytest

from macapp import exitcodes, jobs
from macapp.engine import disk, waiting
from macapp.engine.errors import Stopped
from macapp.engine.models import downloads, hub_token, model_places, models
from tests.e2e.silence import PATIENCE, stopped_while_silent
from tests.helpers import tailor
from tests.hub_server import Hub

REPO = "tiny-org/Tiny-Instruct-4bit"


def model_repo(source, target, weights_format: str = "mlx"):
    """A copy of a model folder whose weights say which program saved them, as the hub's files do."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file() and path.suffix != ".safetensors":
            shutil.copy2(path, target / path.name)
    mx.save_safetensors(str(target / "model.safetensors"), mx.load(str(source / "model.safetensors")),
                        metadata={"format": weights_format})
    return target


@pytest.fixture
def hub(demo_model, tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path / "home"))  # nothing downloaded before
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "user"))  # where LM Studio keeps its models
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with Hub() as server:
        server.add(REPO, model_repo(demo_model, tmp_path / "repo"))
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def download(name: str, stop_when=None, how=signal.SIGINT) -> tuple[int, list[dict]]:
    """Download in a worker as the window does; `stop_when(event)` sends `how` to it once (Pause, or a kill)."""
    process = jobs.start(jobs.DownloadJob(run=str(jobs.scratch_folder("download")), model=name))
    seen = []
    for event in jobs.events(process):
        seen.append(event)
        if stop_when and stop_when(event):
            process.send_signal(how)
            stop_when = None
    return process.returncode, seen


def progress(seen: list[dict]) -> list[dict]:
    return [e for e in seen if e["type"] == "progress" and e.get("step") == "download"]


def error(seen: list[dict]) -> dict:
    (said,) = [e for e in seen if e["type"] == "error"]
    return said


def test_a_download_reports_its_bytes_is_checked_and_is_not_downloaded_twice(hub):
    code, seen = download(REPO)
    assert code == exitcodes.DONE, seen[-3:]
    total = sum(len(data) for data in hub.repos[REPO].values())
    steps = progress(seen)
    assert steps[-1]["done"] == steps[-1]["total"] == total
    assert all(0 <= e["done"] <= e["total"] for e in steps)
    assert steps[-1]["message"].startswith(f"Downloading {REPO}: 3.") and " MB of " in steps[-1]["message"]
    folder = model_places.tailor_folder(REPO)
    models.check_folder(folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(hub.repos[REPO])  # no partial or bookkeeping files
    asked = len(hub.requests)
    code, seen = download(REPO)
    assert code == exitcodes.DONE and len(hub.requests) == asked  # found on this computer: the hub is not asked
    assert any("found on this computer" in e.get("message", "") for e in seen)


def test_a_paused_and_then_killed_download_goes_on_where_it_stopped(hub, demo_model, tmp_path):
    big = model_repo(demo_model, tmp_path / "big")  # weights of about 15 MB: time to stop it twice
    weights = mx.load(str(big / "model.safetensors"))
    mx.save_safetensors(str(big / "model.safetensors"), {**weights, "padding": mx.zeros((3_000_000,))},
                        metadata={"format": "mlx"})
    hub.add(REPO, big)
    hub.pause_per_chunk = 0.02
    size = len(hub.repos[REPO]["model.safetensors"])
    code, seen = download(REPO, stop_when=lambda e: e.get("step") == "download" and e["done"] > size * 0.25)
    assert code == exitcodes.STOPPED, seen[-3:]
    paused_at = progress(seen)[-1]["done"]
    # a kill once two more chunks were reported: the first of them is on disk (each is written after it is counted)
    code, seen = download(REPO, stop_when=lambda e: e.get("step") == "download" and
                          e["done"] > paused_at + 2 * downloads.CHUNK, how=signal.SIGKILL)
    assert code == -signal.SIGKILL  # as when the Mac shuts down or the app is forced to quit
    assert progress(seen)[0]["done"] >= paused_at * 0.9  # it started from what it had
    hub.pause_per_chunk = 0
    code, seen = download(REPO)
    assert code == exitcodes.DONE
    ranges = [int(r.split("=")[1].rstrip("-")) for method, path, r in hub.requests
              if method == "GET" and path.endswith("model.safetensors") and r]
    assert len(ranges) == 2 and 0 < ranges[0] < ranges[1] < size  # each time from where the last one stopped
    assert hub.sent_bytes < sum(len(data) for data in hub.repos[REPO].values()) * 1.5
    models.check_folder(model_places.tailor_folder(REPO))


def paused_at_a_quarter(hub) -> int:
    """Start a slow download and pause it after about a quarter of the weights; returns the bytes it had."""
    hub.pause_per_chunk = 0.03
    weights = len(hub.repos[REPO]["model.safetensors"])
    code, seen = download(REPO, stop_when=lambda e: e.get("step") == "download" and e["done"] > weights * 0.25)
    assert code == exitcodes.STOPPED
    hub.pause_per_chunk = 0
    return progress(seen)[-1]["done"]


def test_a_server_that_sends_the_whole_file_again_or_a_changed_model_still_give_the_right_files(hub):
    paused_at_a_quarter(hub)
    hub.ignore_range = True
    code, seen = download(REPO)
    assert code == exitcodes.DONE
    assert all(e["done"] <= e["total"] for e in progress(seen))  # what came before is not counted twice
    models.check_folder(model_places.tailor_folder(REPO))
    shutil.rmtree(model_places.tailor_folder(REPO))
    paused_at_a_quarter(hub)
    hub.commit = "f" * 40  # the model was updated meanwhile: what came of the old version is not mixed in
    old = hub.repos[REPO]["model.safetensors"]
    hub.repos[REPO]["model.safetensors"] = old[:-1] + bytes([old[-1] ^ 1])
    hub.ignore_range = False
    code, seen = download(REPO)
    assert code == exitcodes.DONE and progress(seen)[0]["done"] < 1000
    folder = model_places.tailor_folder(REPO)
    assert (folder / "model.safetensors").read_bytes() == hub.repos[REPO]["model.safetensors"]


def test_one_download_of_a_model_at_a_time(hub):
    import fcntl

    lock = model_places.tailor_folder(REPO).with_name(model_places.tailor_folder(REPO).name + ".lock")
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as held:  # as another Tailor downloading it holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        code, seen = download(REPO)
    assert code == exitcodes.BAD_INPUT and "is being downloaded already" in error(seen)["message"]
    assert download(REPO)[0] == exitcodes.DONE


def test_a_model_with_a_missing_shard_is_not_taken_for_a_whole_one(hub, demo_model, tmp_path):
    snapshot = tmp_path / "hf-cache" / "models--mlx-community--Half-4bit" / "snapshots" / "abc"
    model_repo(demo_model, snapshot)
    (snapshot / "model.safetensors.index.json").write_text(
        '{"weight_map": {"a": "model.safetensors", "b": "model-00002-of-00002.safetensors"}}')
    assert model_places.find("mlx-community/Half-4bit") is None
    with pytest.raises(models.ModelError, match="weights are incomplete .model-00002-of-00002.safetensors is missing"):
        models.check_folder(snapshot)


def test_a_damaged_file_is_refused_and_removed(hub):
    hub.corrupt.add((REPO, "model.safetensors"))
    code, seen = download(REPO)
    assert code == exitcodes.FAILED
    assert "model.safetensors of tiny-org/Tiny-Instruct-4bit arrived damaged" in error(seen)["message"]
    assert model_places.find(REPO) is None
    hub.corrupt.clear()
    assert download(REPO)[0] == exitcodes.DONE


def test_a_download_with_no_room_for_it_is_refused_before_it_starts(hub):
    hub.claimed_sizes[(REPO, "model.safetensors")] = 50 * 10**12
    code, seen = download(REPO)
    assert code == exitcodes.FAILED
    said = error(seen)
    assert said["category"] == "disk" and "needs 50 TB of free disk space" in said["message"]
    assert not [r for r in hub.requests if "/resolve/" in r[1]]  # not one byte asked for


def test_a_gated_model_says_how_to_accept_its_licence_and_sign_in(hub, monkeypatch):
    hub.gated.add(REPO)
    code, seen = download(REPO)
    assert code == exitcodes.BAD_INPUT
    message = error(seen)["message"]
    assert f"Open https://huggingface.co/{REPO}, sign in and accept the licence" in message
    assert "access token" in message and "Keychain" in message
    monkeypatch.setenv("HF_TOKEN", "hf_" + "a" * 34)  # signed in, but the licence is not accepted yet
    code, seen = download(REPO)
    assert code == exitcodes.BAD_INPUT and "your account may not use it yet" in error(seen)["message"]
    assert any("Bearer hf_aaaa" in str(r) for r in hub.header_log)


def test_a_missing_model_is_named(hub):
    code, seen = download("tiny-org/no-such-model")
    assert code == exitcodes.BAD_INPUT
    assert "tiny-org/no-such-model: no such model on Hugging Face, or it is private" in error(seen)["message"]


def test_a_model_in_pytorch_form_is_converted_to_mlx_form(hub, demo_model, tmp_path):
    hub.add("tiny-org/Tiny-Instruct", model_repo(demo_model, tmp_path / "pt", weights_format="pt"))
    code, seen = download("tiny-org/Tiny-Instruct")
    assert code == exitcodes.DONE, seen[-3:]
    assert [e["done"] for e in seen if e.get("step") == "convert"] == [0, 1]
    folder = model_places.tailor_folder("tiny-org/Tiny-Instruct")
    assert downloads.in_mlx_form(folder)
    models.check_folder(folder)


def test_models_in_the_hugging_face_cache_and_lm_studio_are_found(hub, demo_model, tmp_path):
    snapshot = tmp_path / "hf-cache" / "models--mlx-community--Tiny-4bit" / "snapshots" / "abc123"
    model_repo(demo_model, snapshot)
    shutil.copytree(snapshot, tmp_path / "hf-cache" / "models--someone--only-weights" / "snapshots" / "1")
    (tmp_path / "hf-cache" / "models--someone--only-weights" / "snapshots" / "1" / "config.json").unlink()
    studio = tmp_path / "user" / ".lmstudio" / "models" / "lmstudio-community" / "Tiny-MLX-8bit"
    model_repo(demo_model, studio)
    found = {(m.name, m.place): m.path for m in model_places.found()}
    assert found == {("mlx-community/Tiny-4bit", "the Hugging Face cache"): snapshot,
                     ("lmstudio-community/Tiny-MLX-8bit", "LM Studio"): studio}  # the incomplete one is left out
    asked = len(hub.requests)
    code, seen = download("lmstudio-community/Tiny-MLX-8bit")
    assert code == exitcodes.DONE and seen[-1]["result"]["path"] == str(studio) and len(hub.requests) == asked
    assert models.config_of("mlx-community/Tiny-4bit") == models.read_config(snapshot)


def test_tailor_models_lists_downloads_and_finds_what_is_here(hub):
    listed = tailor("models", "--memory", "16")
    assert listed.returncode == 0, listed.stderr
    assert "against the 10 GB a Mac with 16 GB can give to training" in listed.stdout
    assert "SmolLM2 135M Instruct" in listed.stdout and "Llama 3.1 Community License" in listed.stdout
    assert "fits with batch" in listed.stdout  # a model too big as set names the settings that would fit
    got = tailor("models", "get", REPO)
    assert got.returncode == 0, got.stderr
    assert f"{REPO} is in {model_places.tailor_folder(REPO)}" in got.stdout and " MB of 3.1 MB" in got.stderr
    assert f"{REPO} " in tailor("models", "here").stdout
    unknown = tailor("models", "get", "not-a-model")
    assert unknown.returncode == 2 and "neither a model of `tailor models` nor a Hugging Face repository" in \
        unknown.stderr
    login = tailor("models", "login", input="my password\n")
    assert login.returncode == 2 and "tokens start with hf_" in login.stderr


def test_the_token_is_kept_in_the_keychain_and_the_environment_wins(keychain, monkeypatch):
    """Decision logic only: the keychain fixture's in-memory backend stands in for the macOS Keychain."""
    with pytest.raises(hub_token.TokenError, match="tokens start with hf_"):
        hub_token.save("my password")
    assert hub_token.get() is None
    hub_token.save("  hf_" + "b" * 34 + "\n")
    assert hub_token.get() == "hf_" + "b" * 34
    monkeypatch.setenv("HF_TOKEN", "hf_" + "c" * 34)
    assert hub_token.get() == "hf_" + "c" * 34
    monkeypatch.delenv("HF_TOKEN")
    hub_token.forget()
    assert hub_token.get() is None


def test_without_a_keychain_signing_in_says_so_and_names_hf_token(monkeypatch):
    """keyring's own fail backend: what a computer without any keychain (as these machines) gives."""
    import keyring
    from keyring.backends import fail

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())
    with pytest.raises(hub_token.TokenError) as said:
        hub_token.save("hf_" + "d" * 34)
    words = str(said.value)
    assert "has no keychain Tailor can keep the token in" in words and "HF_TOKEN" in words
    assert "keyrings.alt" not in words and "backend" not in words  # keyring's own words stay out
    assert hub_token.get() is None


def test_a_hub_that_never_answers_the_model_info_is_said_in_plain_words(hub, monkeypatch):
    monkeypatch.setenv(waiting.SILENCE, "2")
    hub.silent_api = True
    began = time.monotonic()
    code, seen = download(REPO)
    assert code == exitcodes.FAILED and time.monotonic() - began < PATIENCE
    said = error(seen)
    assert said["message"] == (f"Hugging Face at {hub.url} took the request but then said nothing for 2 seconds: the "
                               f"download of {REPO} stopped there.")
    assert said["fix"] == "Check the internet connection, then download again."
    got = tailor("models", "get", REPO, timeout=PATIENCE)  # the command the tester saw wait forever
    assert got.returncode == exitcodes.FAILED and "said nothing for 2 seconds" in got.stderr
    assert f"Asking Hugging Face at {hub.url} about {REPO}" in got.stderr and "Traceback" not in got.stderr


def test_a_stop_is_honoured_while_the_hub_is_silent(hub, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv(waiting.SILENCE, "600")  # only the stop can end the wait
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)  # read when huggingface_hub was first imported
    hub.silent_api = True
    began = time.monotonic()
    with pytest.raises(Stopped):
        downloads.fetch(REPO, should_stop=hub.fell_silent.is_set)
    assert time.monotonic() - began < PATIENCE
    hub.fell_silent.clear()
    stopped_while_silent(jobs.DownloadJob(run=str(jobs.scratch_folder("download")), model=REPO), hub.fell_silent)


def test_a_hub_silent_in_the_middle_of_a_file_keeps_what_came_and_goes_on_from_there(hub, monkeypatch):
    monkeypatch.setenv(waiting.SILENCE, "8")  # the bytes before must never look silent on a busy machine
    hub.silent_after = 16 * downloads.CHUNK
    code, seen = download(REPO)
    assert code == exitcodes.FAILED
    said, held = error(seen), model_places.bytes_held(REPO)
    assert said["message"].endswith(f"said nothing for 8 seconds: the download of {REPO} stopped there.")
    assert said["fix"] == (f"The {disk.size_words(held)} received so far are kept: check the internet connection and "
                           "download again, and it goes on from there.")
    part = model_places.partial_folder(REPO) / ("model.safetensors" + downloads.PART)
    assert part.stat().st_size == hub.silent_after  # every byte that came, and nothing else
    hub.silent_after = None
    code, seen = download(REPO)
    assert code == exitcodes.DONE, seen[-3:]
    ranges = [r for method, path, r in hub.requests if method == "GET" and path.endswith("model.safetensors") and r]
    assert ranges == [f"bytes={16 * downloads.CHUNK}-"]
    models.check_folder(model_places.tailor_folder(REPO))


def adapter_folder(tmp_path):
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    return tmp_path / "adapter"


def test_an_upload_to_a_hub_that_never_answers_ends_in_plain_words(hub, monkeypatch, tmp_path):
    from huggingface_hub import constants

    from macapp.engine.export import hub as sharing

    monkeypatch.setenv(waiting.SILENCE, "1")
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)  # read when huggingface_hub was first imported
    hub.silent_api = True
    began = time.monotonic()
    with pytest.raises(downloads.RunFailed) as failed:
        sharing.upload(adapter_folder(tmp_path), "someone/tuned", "hf_" + "e" * 34)
    assert time.monotonic() - began < PATIENCE
    assert str(failed.value) == ("Hugging Face took the upload to someone/tuned but then said nothing for 1 second: "
                                 "the upload stopped there.")
    assert "has all of it or none of it" in failed.value.fix


def test_a_stop_is_honoured_while_the_hub_is_silent_during_an_upload(hub, monkeypatch, tmp_path):
    from huggingface_hub import constants

    from macapp.engine.export import hub as sharing

    monkeypatch.setenv(waiting.SILENCE, "600")  # only the stop can end the wait
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setenv("HF_TOKEN", "hf_" + "e" * 34)  # for the worker, which reads it first
    hub.silent_api = True
    began = time.monotonic()
    with pytest.raises(Stopped):
        sharing.upload(adapter_folder(tmp_path), "someone/tuned", "hf_" + "e" * 34, should_stop=hub.fell_silent.is_set)
    assert time.monotonic() - began < PATIENCE
    hub.fell_silent.clear()
    job = jobs.UploadJob(run=str(jobs.scratch_folder("upload")), folder=str(tmp_path / "adapter"), repo="someone/tuned")
    stopped_while_silent(job, hub.fell_silent)
