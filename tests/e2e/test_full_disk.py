"""A full disk, for real: Tailor's home on a small tmpfs filled on purpose, in a mount namespace of its own.

Training, resuming, fusing and making a run each meet a full disk; every one must say so plainly (exit 1, no
traceback), leave nothing half-written, and keep the run resumable from its last checkpoint.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

TRAIN = ["--model", "demo", "--batch-size", "4", "--steps-per-eval", "6", "--max-seq-length", "128",
         "--save-every", "5"]


def _tailor(home: Path, *args) -> dict:
    done = subprocess.run([sys.executable, "-m", "macapp", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "TAILOR_HOME": str(home)}, timeout=300)
    return {"code": done.returncode, "out": done.stdout, "err": done.stderr}


def _fill(disk: Path, leave: int = 0) -> Path:
    """A file that takes all the disk's free room but `leave` bytes."""
    filler = disk / "filler"
    filler.unlink(missing_ok=True)
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as handle:
        handle.truncate(0)
        chunk = b"\0" * 65536
        left = max(free - leave, 0)
        try:
            while left > 0:
                left -= handle.write(chunk[:min(len(chunk), left)])
                handle.flush()
        except OSError:
            pass
    return filler


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if any(part in p.name for part in (".partial", ".tmp", ".old", "-fused", ".damaged")))


def scenario(disk: str, demo_model: str, data: str) -> None:
    """Runs inside the namespace, with the small disk mounted at `disk`; prints what it saw as JSON."""
    disk = Path(disk)
    home = disk / "home"
    shutil.copytree(demo_model, home / "models" / Path(demo_model).name)  # the demo model, so none is built here
    seen = {}
    probe = _tailor(home, "train", *TRAIN, "--data", data, "--iters", 6, "--name", "probe")
    (probe_run,) = (home / "runs").iterdir()
    room = sum(p.stat().st_size for p in probe_run.rglob("*") if p.is_file())
    shutil.rmtree(probe_run)
    seen["probe"] = probe["code"]

    filler = _fill(disk, leave=room + 200_000)  # room for a run with one checkpoint, not for a second one
    seen["train"] = _tailor(home, "train", *TRAIN, "--data", data, "--iters", 12, "--name", "full")
    (run,) = (home / "runs").iterdir()
    seen["train_leftovers"] = _leftovers(run)
    seen["checkpoints"] = sorted(p.name for p in (run / "checkpoints").iterdir())
    seen["listed"] = _tailor(home, "runs")
    filler.unlink()
    seen["resume"] = _tailor(home, "train", "--resume", run.name)

    filler = _fill(disk)
    seen["fuse"] = _tailor(home, "fuse", "--run", run.name)
    seen["fuse_leftovers"] = _leftovers(run)
    seen["new_run"] = _tailor(home, "train", *TRAIN, "--data", data, "--iters", 6, "--name", "no-room")
    seen["runs_after"] = sorted(p.name for p in (home / "runs").iterdir())
    filler.unlink()
    print(json.dumps(seen))


def test_a_full_disk_is_said_plainly_and_leaves_the_run_resumable(demo_model, tmp_path):
    from macapp.engine.models import demo

    disk = tmp_path / "disk"
    disk.mkdir()
    # unshare refuses a threaded process, and a preloaded OpenBLAS starts threads: the namespace starts without it
    env = {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}
    namespace = ["unshare", "--map-root-user", "--mount", "sh", "-c", f"mount -t tmpfs -o size=24m tmpfs '{disk}' "
                 "&& exec \"$0\" -c \"$1\""]
    probe = subprocess.run([*namespace, sys.executable, "pass"], capture_output=True, text=True, env=env) \
        if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("a small tmpfs cannot be mounted here (it needs Linux's unshare and user namespaces): "
                    + (probe.stderr.strip()[-300:] if probe else "no unshare"))
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from tests.e2e.test_full_disk import scenario; "
            f"scenario({str(disk)!r}, {str(demo_model)!r}, {str(demo.REPLIES)!r})")
    done = subprocess.run([*namespace, sys.executable, code], capture_output=True, text=True, timeout=900, cwd=REPO,
                          env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["probe"] == 0

    train = seen["train"]
    assert train["code"] == 1 and "Traceback" not in train["err"]
    assert "Error: The disk is full: the " in train["err"] and "could not be written in" in train["err"]
    assert "then resume the run: it goes on from step 5, its last checkpoint" in train["err"], train["err"]
    assert seen["train_leftovers"] == [] and seen["checkpoints"] == ["0000005"]
    assert " failed " in seen["listed"]["out"]  # its error was recorded: not "interrupted"
    resume = seen["resume"]
    assert resume["code"] == 0 and "Resuming from step 5" in resume["err"], resume["err"][-2000:]

    fuse = seen["fuse"]
    assert fuse["code"] in (1, 2) and "Traceback" not in fuse["err"]
    assert "disk is full" in fuse["err"] or "Not enough room" in fuse["err"], fuse["err"][-2000:]
    assert seen["fuse_leftovers"] == []

    new_run = seen["new_run"]
    assert new_run["code"] == 1 and "The disk is full" in new_run["err"] and "Traceback" not in new_run["err"]
    assert seen["runs_after"] == [name for name in seen["runs_after"] if name.endswith("-full")]
