"""Download a model from the Hugging Face hub so a person can follow it: bytes, speed and time left; the free disk
checked first; a stopped download goes on where it stopped; every file checked against the hub's own checksum.

A model found on this computer is used where it is; one that is not in MLX's form is converted once it is here. Every
request to the hub is waited for in short slices that look at the stop, and a hub silent for about a minute is said.
"""

import fcntl
import fnmatch
import hashlib
import json
import os
import shutil
import struct
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import disk, waiting
from ..errors import ModelError, RunFailed, Stopped
from ..files import data_home
from ..runs import events as ev
from ..runs.run_state import duration_words
from . import hub_token, model_places
from .model_folder import WEIGHTS, check_folder, copy_tokenizer, read_config
from .model_places import VERIFIED, bytes_held, partial_folder

WANTED = ("*.json", WEIGHTS, "tokenizer.model", "*.txt", "*.jinja")  # never code: nothing remote is run
REPORT_EVERY = 0.5  # seconds between progress events
SPEED_WINDOW = 10.0  # seconds of transfer the speed is measured over
ROOM_TO_SPARE = 500e6  # bytes left free besides the files: the system's and the conversion's own needs
CHUNK = 64 * 1024  # bytes received between two looks at the progress: a server sending less in the silence limit
# (about 1 KB/s) is taken for a silent one
PART = ".part"  # a file being downloaded, kept when the download stops
HUB = "https://huggingface.co"


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    sha256: str | None  # a large file kept with Git LFS (the weights): the hub gives its SHA-256
    git_sha1: str | None  # a small file kept in git: its blob id


class Transfer:
    """The bytes of a download across its files, with the speed over the last seconds and the time left; reported
    at most every half second, and stopped (the partial file kept) when asked."""

    def __init__(self, repo_id: str, total: int, done: int, report, should_stop):
        self.repo_id, self.total, self.done = repo_id, total, done
        self.report, self.should_stop = report, should_stop
        self.samples = deque([(time.monotonic(), done)])
        self.reported = 0.0
        self.held = 0  # what the file being fetched had on disk before: counted in `done` already

    def add(self, count: int) -> None:
        if self.should_stop():
            raise Stopped(f"The download of {self.repo_id} was paused; it goes on from here next time.")
        self.done += count
        now = time.monotonic()
        self.samples.append((now, self.done))
        while len(self.samples) > 2 and now - self.samples[0][0] > SPEED_WINDOW:
            self.samples.popleft()
        if now - self.reported >= REPORT_EVERY:
            self.reported = now
            self.report(self.event())

    def speed(self) -> float:
        (start, first), (end, last) = self.samples[0], self.samples[-1]
        return (last - first) / (end - start) if end - start > 0.2 else 0.0

    def event(self) -> dict:
        speed = self.speed()
        left = (self.total - self.done) / speed if speed else None
        words = f"{disk.size_words(self.done)} of {disk.size_words(self.total)}"
        if speed:
            words += f", {disk.size_words(speed)}/s, {duration_words(left)} left"
        return {"type": ev.PROGRESS, "step": "download", "done": self.done, "total": self.total,
                "bytes_per_second": round(speed), "eta_seconds": round(left) if left is not None else None,
                "message": f"Downloading {self.repo_id}: {words}"}

    def restart(self, initial: int) -> None:
        """A file's transfer begins with `initial` bytes of it on disk: 0 when the server sends it all again."""
        self.done -= self.held - initial
        self.held = initial

    def receive(self, item) -> None:
        """What a Bar put: a file's start, or a count of bytes."""
        if isinstance(item, tuple):
            self.restart(item[1])
        else:
            self.add(item)

    @staticmethod
    def bar(put):
        """A progress-bar class for huggingface_hub that draws nothing and puts what it receives (a file's start
        with the bytes it has on disk, then counts) for the waiting thread to give to `receive`."""
        from tqdm.auto import tqdm

        class Bar(tqdm):
            def __init__(self, *args, **kwargs):
                initial = kwargs.pop("initial", 0) or 0  # where it goes on from: 0 when the server sends it all again
                super().__init__(*args, **{**kwargs, "disable": True})
                put(("from", initial))

            def update(self, n=1):
                put(int(n or 0))

            def update_transfer(self, n=1):  # huggingface_hub's Xet downloads count the network apart: not twice
                pass

            def set_transfer_postfix_str(self, *args, **kwargs):
                pass

        return Bar


def _wanted(name: str, repo_type: str) -> bool:
    """A model's top-level configs, weights and tokenizer; a dataset's files but its code."""
    if repo_type == "dataset":
        return not name.endswith(".py") and not name.startswith(".")
    return "/" not in name and any(fnmatch.fnmatch(name, pattern) for pattern in WANTED)


def listing(repo_id: str, token: str | None, should_stop=lambda: False,
            repo_type: str = "model") -> tuple[str, list[RemoteFile]]:
    """The repository's commit and the files Tailor needs from it."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    info_of = api.dataset_info if repo_type == "dataset" else api.model_info
    info = waiting.call(lambda: info_of(repo_id, files_metadata=True, timeout=waiting.socket_timeout()), should_stop)
    files = [RemoteFile(s.rfilename, s.size or 0, s.lfs.sha256 if s.lfs else None, None if s.lfs else s.blob_id)
             for s in info.siblings or [] if _wanted(s.rfilename, repo_type)]
    return info.sha, files


def checksum_ok(path: Path, file: RemoteFile) -> bool:
    """The file as the hub has it: its SHA-256 (weights) or git blob id (small files), else at least its size."""
    if path.stat().st_size != file.size:
        return False
    if file.sha256:
        digest = hashlib.sha256()
    elif file.git_sha1:
        digest = hashlib.sha1(f"blob {file.size}\0".encode())
    else:
        return True
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == (file.sha256 or file.git_sha1)


def _bytes_on_disk(folder: Path, file: RemoteFile) -> int:
    """What a stopped download already holds of `file`."""
    part = folder / (file.name + PART)
    return part.stat().st_size if part.exists() else 0


def _read_verified(folder: Path, commit: str) -> set:
    """The files already checked, when they are of the repository's commit now; else what came is of an older version
    of the model and is thrown away."""
    try:
        kept = json.loads((folder / VERIFIED).read_text())
        if kept["commit"] == commit:
            return set(kept["files"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if folder.is_dir():
        shutil.rmtree(folder)
    return set()


def _write_verified(folder: Path, commit: str, names: set) -> None:
    temporary = folder / (VERIFIED + ".tmp")
    temporary.write_text(json.dumps({"commit": commit, "files": sorted(names)}))
    os.replace(temporary, folder / VERIFIED)


def fetch(repo_id: str, report=lambda event: None, should_stop=lambda: False) -> Path:
    """The folder of `repo_id`: where it already is on this computer, or downloaded (once, resumable) into
    Tailor's models folder and converted to MLX's form when it is not in it."""
    here = model_places.find(repo_id)
    if here is not None:
        report({"type": ev.LOG, "message": f"Using {repo_id}, found on this computer ({here})"})
        return here
    out = model_places.tailor_folder(repo_id)
    folder = partial_folder(repo_id)
    token = hub_token.get()
    try:
        report({"type": ev.LOG, "message": f"Asking {_hub_words()} about {repo_id}"})
        commit, files = listing(repo_id, token, should_stop)
        if not any(fnmatch.fnmatch(file.name, WEIGHTS) for file in files):
            raise ModelError(f"{repo_id} has no weights in the safetensors form Tailor reads. Choose a version of it "
                             "made for MLX (the mlx-community organisation has most models).")
        with _only_one(out, repo_id):
            _download_all(repo_id, commit, files, folder, token, report, should_stop)
            check_folder(folder)
            if in_mlx_form(folder):
                (folder / VERIFIED).unlink()
                os.replace(folder, out)
            else:
                convert(folder, out, repo_id, report)
    except Exception as error:
        raise _said(error, repo_id, token) from None
    return out


def fetch_dataset(repo_id: str, report=lambda event: None, should_stop=lambda: False) -> Path:
    """The folder of the dataset `repo_id` (its data files, never its code), downloaded once (resumable) into Tailor's
    datasets folder."""
    out = data_home() / "datasets" / repo_id.replace("/", "--")
    if out.is_dir():
        return out
    folder = out.with_name(out.name + model_places.PARTIAL)
    token = hub_token.get()
    try:
        report({"type": ev.LOG, "message": f"Asking {_hub_words()} about {repo_id}"})
        commit, files = listing(repo_id, token, should_stop, repo_type="dataset")
        with _only_one(out, repo_id):
            _download_all(repo_id, commit, files, folder, token, report, should_stop, repo_type="dataset")
            (folder / VERIFIED).unlink()
            os.replace(folder, out)
    except Exception as error:
        raise _said(error, repo_id, token, "question set") from None
    return out


def _download_all(repo_id, commit, files, folder, token, report, should_stop, repo_type: str = "model") -> None:
    """The files not yet here and checked, into the download folder, after checking the disk has room for them."""
    verified = _read_verified(folder, commit) & {file.name for file in files}
    folder.mkdir(parents=True, exist_ok=True)
    _write_verified(folder, commit, verified)  # what comes from here on is of this commit
    waiting = [file for file in files if file.name not in verified]
    have = sum(_bytes_on_disk(folder, file) for file in waiting)
    _check_room(f"downloading {repo_id}", folder, sum(file.size for file in waiting) - have)
    again = " \u2014 going on from where it stopped" if have or verified else ""
    report({"type": ev.LOG, "message": f"Downloading {repo_id} from Hugging Face (once; it is kept for later "
                                       f"runs){again}"})
    total = sum(file.size for file in files)
    transfer = Transfer(repo_id, total, total - sum(file.size for file in waiting) + have, report, should_stop)
    _download(repo_id, commit, waiting, folder, token, transfer, verified, repo_type)
    report(transfer.event())


@contextmanager
def _only_one(out: Path, repo_id: str):
    """One download of a model at a time (a window and a terminal could both start one), held from reading what
    came before to the finished folder; the lock goes with its process, however that ends."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle = open(out.with_name(out.name + ".lock"), "w")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ModelError(f"{repo_id} is being downloaded already, by another Tailor window or command. Wait for "
                             "it to finish.") from None
        yield
    finally:
        handle.close()


def _download(repo_id, commit, files, folder, token, transfer, verified, repo_type: str = "model") -> None:
    """Each file into `<name>.part` beside where it goes, appended to from where an earlier download stopped (a
    stopped app, a lost network), then checked and moved into place."""
    from urllib.parse import urlparse

    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    constants.DOWNLOAD_CHUNK_SIZE = CHUNK  # its 10 MB would show progress, and stop, only every 10 s at 1 MB/s
    constants.HF_HUB_DOWNLOAD_TIMEOUT = waiting.socket_timeout()  # its thread gives up on a silent hub too
    for file in files:
        url = hf_hub_url(repo_id, file.name, revision=commit, repo_type=repo_type)
        location = waiting.call(lambda: get_hf_file_metadata(url, token=token, timeout=waiting.socket_timeout()),
                                transfer.should_stop).location
        headers = build_hf_headers(token=token)
        if urlparse(location).netloc != urlparse(url).netloc:  # a signed address on a CDN: the token stays home
            headers.pop("authorization", None)
        part = folder / (file.name + PART)
        part.parent.mkdir(parents=True, exist_ok=True)  # a dataset's files in folders of their own
        if part.exists() and part.stat().st_size > file.size:  # not of this file: start it again
            part.unlink()
        transfer.held = _bytes_on_disk(folder, file)
        with open(part, "ab") as handle:
            def receive(put):
                http_get(location, handle, resume_size=handle.tell(), headers=headers, expected_size=file.size,
                         tqdm_class=Transfer.bar(put))

            for item in waiting.watched(receive, transfer.should_stop):  # the file is written on that thread
                transfer.receive(item)
        if not checksum_ok(part, file):
            part.unlink()
            raise RunFailed(f"{file.name} of {repo_id} arrived damaged: it is not the file the hub lists (its "
                            "checksum differs), so it was removed.", "Download again. If it happens again, the "
                            "network or a proxy is changing what it carries.")
        os.replace(part, folder / file.name)
        transfer.held = 0
        verified.add(file.name)
        _write_verified(folder, commit, verified)


def _check_room(doing: str, folder: Path, needed: int) -> None:
    free = disk.free_bytes(folder)
    if needed + ROOM_TO_SPARE > free:
        raise disk.DiskFull(f"{doing[0].upper()}{doing[1:]} needs {disk.size_words(needed + ROOM_TO_SPARE)} of "
                            f"free disk space, and the disk has {disk.size_words(free)} free. Make room (empty the "
                            "Trash, or remove old runs, exports or models), then download again.")


def _hub_words() -> str:
    """Hugging Face, with its address when HF_ENDPOINT points elsewhere (a mirror, a company's own hub)."""
    from huggingface_hub import constants

    return "Hugging Face" if constants.ENDPOINT.rstrip("/") == HUB else f"Hugging Face at {constants.ENDPOINT}"


def _silent(repo_id: str, seconds: float) -> RunFailed:
    """A hub that took a request and then said nothing, said with what of the download is kept."""
    held = bytes_held(repo_id)
    then = (f"The {disk.size_words(held)} received so far are kept: check the internet connection and download "
            "again, and it goes on from there." if held else "Check the internet connection, then download again.")
    return RunFailed(f"{_hub_words()} took the request but then said nothing for {waiting.seconds_words(seconds)}: "
                     f"the download of {repo_id} stopped there.", then)


def _said(error: Exception, repo_id: str, token: str | None, kind: str = "model") -> Exception:
    """What a download of `repo_id` (a model or a question set) raises for `error`: Tailor's own errors as they are,
    a silent hub and any other failure in plain words."""
    if isinstance(error, (ModelError, RunFailed, Stopped, disk.DiskFull)):
        return error
    if isinstance(error, waiting.Silent):
        return _silent(repo_id, error.seconds)
    return _plain(error, repo_id, token, kind)


def _plain(error: Exception, repo_id: str, token: str | None, kind: str = "model") -> Exception:
    """A hub or network failure in words a person can act on."""
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    page = f"{HUB}/{repo_id}"
    sign_in = ("make an access token at https://huggingface.co/settings/tokens (Read is enough) and give it to "
               "Tailor: Sign in to Hugging Face in the Train step, or `tailor models login` in a terminal. Tailor "
               "keeps it in the Keychain.")
    if disk.is_full(error):
        return disk.full(f"the download of {repo_id}", model_places.tailor_folder(repo_id), then="download again")
    if isinstance(error, GatedRepoError):
        if token:
            return ModelError(f"{repo_id} asks everyone to accept its licence, and your account may not use it yet. "
                              f"Open {page}, sign in with the account of your token and accept the licence (some "
                              "makers review requests first: wait for their e-mail), then download again.")
        return ModelError(f"{repo_id} asks everyone to accept its licence before downloading it. Open {page}, sign "
                          f"in and accept the licence; then {sign_in}")
    if isinstance(error, (RepositoryNotFoundError, RevisionNotFoundError)):
        yours = "." if token else f"; if it is yours, {sign_in}"
        if kind != "model":
            return ModelError(f"{repo_id}: no such {kind} on Hugging Face, or it is private. Check the name{yours}")
        return ModelError(f"{repo_id}: no such model on Hugging Face, or it is private. Check the name (for example "
                          f"mlx-community/Qwen2.5-0.5B-Instruct-4bit){yours}")
    if isinstance(error, HfHubHTTPError) and error.response is not None and error.response.status_code in (401, 403):
        return ModelError(f"Hugging Face refused the download of {repo_id} ({error.response.status_code}): "
                          + ("your token is not accepted; make a new one at https://huggingface.co/settings/tokens "
                             "and sign in again." if token else sign_in))
    if isinstance(error, OfflineModeIsEnabled):
        return ModelError(f"{repo_id} is not on this computer, and downloading is turned off (HF_HUB_OFFLINE).")
    return RunFailed(f"The download of {repo_id} stopped before it was complete: the connection was lost, or "
                     "Hugging Face did not answer.",
                     "Check the internet connection and download again: it goes on from where it stopped.")


def in_mlx_form(folder: Path) -> bool:
    """Weights saved by MLX (quantized ones always are); others (PyTorch's safetensors) are converted once."""
    if "quantization" in read_config(folder):
        return True
    weights = next(iter(sorted(folder.glob("model*.safetensors"))))
    with open(weights, "rb") as handle:
        size = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(min(size, 100_000_000)))
    return (header.get("__metadata__") or {}).get("format") == "mlx"


def convert(folder: Path, out: Path, repo_id: str, report) -> None:
    """Write the folder's model into `out` in MLX's form with mlx_lm convert (the original tokenizer files kept), then
    remove the download; a conversion that fails leaves the download as it was, to try again."""
    from mlx_lm.convert import convert as mlx_convert

    _check_room(f"converting {repo_id}", folder, sum(path.stat().st_size for path in folder.glob(WEIGHTS)))
    report({"type": ev.PROGRESS, "step": "convert", "done": 0, "total": 1,
            "message": f"Converting {repo_id} to MLX's form (once)"})
    converted = out.with_name(out.name + ".converting")
    shutil.rmtree(converted, ignore_errors=True)
    try:
        mlx_convert(str(folder), str(converted))
    except Exception as error:
        shutil.rmtree(converted, ignore_errors=True)
        if disk.is_full(error):
            raise disk.full(f"the converted {repo_id}", out, then="download again") from None
        raise ModelError(f"{repo_id} could not be converted to MLX's form ({error}). mlx-lm may not know this kind "
                         "of model yet: choose one from the list, or a version made for MLX (mlx-community).") from None
    copy_tokenizer(folder, converted)
    os.replace(converted, out)
    shutil.rmtree(folder)
    report({"type": ev.PROGRESS, "step": "convert", "done": 1, "total": 1, "message": f"Converted {repo_id}"})
