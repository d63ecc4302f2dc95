"""What Tailor runs on another Mac over SSH when a run trains on several: it tells what that Mac has (versions,
memory, the model, the run's data) and receives the run's files. Run: python -m macapp.group.agent facts|receive.

`facts` reads what is wanted as JSON on stdin and prints what is here as JSON; `receive RUN` reads a tar stream of
the run's files on stdin and puts each in place whole, so a cut connection never leaves half a file.
"""

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
from pathlib import Path

import macapp

from ..engine import files
from .hosts import GROUP


def group_root() -> Path:
    return files.data_home() / GROUP


def run_copy(run: str) -> Path:
    return group_root() / "runs" / run


def model_copy(fingerprint: str) -> Path:
    return group_root() / "models" / fingerprint


def _model_here(name: str, fingerprint: str) -> str | None:
    """Where this Mac holds the model `name` with that fingerprint: the same path, its own download, or a copy."""
    from ..engine.models import model_places, models

    candidates = [Path(name).expanduser(), model_copy(fingerprint)]
    if models.is_repo_id(name):
        candidates.insert(0, model_places.find(name))
    for path in candidates:
        if path is not None and (path / "config.json").exists() and models.fingerprint(path) == fingerprint:
            return name if models.is_repo_id(name) and path != model_copy(fingerprint) else str(path)
    return None


def _rdma_devices() -> int:
    """How many RDMA devices (Thunderbolt 5 ports, once RDMA is turned on) macOS lists: `ibv_devices`, as MLX's own
    mlx.distributed_config asks."""
    if not shutil.which("ibv_devices"):
        return 0
    listed = subprocess.run(["ibv_devices"], capture_output=True, text=True).stdout.splitlines()
    return len([line for line in listed[2:] if line.strip()])  # after its two header lines


def facts(wanted: dict) -> dict:
    """This Mac as a run trained together needs to know it (with the model and the run `wanted` names, if any)."""
    import mlx.core as mx
    import psutil

    from ..engine.check import mlx_device
    from ..engine.data import datasets

    ssh = os.environ.get("SSH_CONNECTION", "").split()  # client address, port, this Mac's address, port
    data = run_copy(wanted["run"]) / "data" if wanted.get("run") else None
    return {
        "tailor": macapp.__version__, "mlx": mx.__version__, "mlx_lm": importlib.metadata.version("mlx-lm"),
        "machine": f"{uuid.getnode():x}:{files.data_home()}", "home": str(files.data_home()),
        "address": ssh[2] if len(ssh) == 4 else None, "caller": ssh[0] if len(ssh) == 4 else None,
        "memory_total": psutil.virtual_memory().total, "memory_limit": mlx_device.machine_limit(),
        "system": sys.platform, "macos": platform.mac_ver()[0], "rdma": _rdma_devices() > 0,
        "model": _model_here(wanted["model"], wanted["model_fingerprint"]) if wanted.get("model") else None,
        "data": datasets.fingerprint(data) if data and (data / "train.jsonl").exists() else None,
    }


def receive(run: str, stream) -> None:
    """Unpack a tar of `runs/RUN/...` and `models/FINGERPRINT/...` into this Mac's group folder. Each item (a file,
    or a folder such as data/, or a model's file) is unpacked aside, then renamed into place; the one it replaces is
    moved aside first and removed after."""
    root = group_root()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".receiving-") as aside:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            archive.extractall(Path(aside) / "new", filter="data")
        for kind in ("runs", "models"):
            for owner in (Path(aside) / "new" / kind).glob("*"):
                target = root / kind / owner.name
                target.mkdir(parents=True, exist_ok=True)
                for item in owner.iterdir():
                    if (target / item.name).exists():
                        os.replace(target / item.name, Path(aside) / f"old-{kind}-{owner.name}-{item.name}")
                    os.replace(item, target / item.name)
    if not (run_copy(run) / "config.yaml").exists():
        raise SystemExit(f"The files of run {run} did not arrive whole.")


def main(argv=None) -> int:
    verb, *rest = argv if argv is not None else sys.argv[1:]
    if verb == "facts":
        print(json.dumps(facts(json.load(sys.stdin))))
    elif verb == "receive":
        receive(rest[0], sys.stdin.buffer)
    else:
        print("usage: python -m macapp.group.agent facts|receive RUN", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
