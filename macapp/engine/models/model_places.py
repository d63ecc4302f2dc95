"""Models already on this computer, so nothing is downloaded twice: Tailor's own downloads (and what a paused one has
received), the Hugging Face cache (where mlx-lm and other tools keep theirs) and LM Studio's models folder; each found
folder is checked before use."""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..files import data_home
from .model_folder import check_folder

PARTIAL = ".partial"  # a download under way keeps its files in <folder>.partial until every one is checked
VERIFIED = ".tailor-verified.json"  # in the download folder: the files already checked, so a resume skips them


@dataclass(frozen=True)
class Found:
    name: str  # the Hugging Face repository (owner/name) the folder holds
    path: Path
    place: str  # where it was found, in words: "Tailor", "the Hugging Face cache", "LM Studio"


def tailor_folder(repo_id: str) -> Path:
    """Where Tailor keeps a model it downloaded."""
    return data_home() / "models" / "hub" / repo_id.replace("/", "--")


def partial_folder(repo_id: str) -> Path:
    """Where a download under way (or paused) keeps what has come so far."""
    out = tailor_folder(repo_id)
    return out.with_name(out.name + PARTIAL)


def bytes_held(repo_id: str) -> int:
    """What a paused download of `repo_id` holds so far; 0 when none was started."""
    folder = partial_folder(repo_id)
    if not folder.is_dir():
        return 0
    kept = (path for path in folder.iterdir() if path.is_file() and path.name != VERIFIED)
    return sum(path.stat().st_size for path in kept)


def discard(repo_id: str) -> None:
    """Delete what a cancelled download had received."""
    shutil.rmtree(partial_folder(repo_id), ignore_errors=True)


def hf_cache() -> Path:
    """The Hugging Face cache, as huggingface_hub finds it (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(home).expanduser() / "hub"


def lm_studio_folders() -> list[Path]:
    """LM Studio's models folders: ~/.lmstudio/models since LM Studio 0.3, ~/.cache/lm-studio/models before."""
    return [Path.home() / ".lmstudio" / "models", Path.home() / ".cache" / "lm-studio" / "models"]


def _usable(path: Path) -> bool:
    try:
        check_folder(path)
    except ModelError:
        return False
    return True


def _snapshots(repo: Path) -> list[Path]:
    """A cached repository's snapshots (models--owner--name/snapshots/<commit>), the newest first."""
    return sorted((repo / "snapshots").glob("*"), key=lambda path: path.stat().st_mtime, reverse=True)


def _cached_name(repo: Path) -> str:
    owner, name = repo.name.removeprefix("models--").split("--", 1)
    return f"{owner}/{name}"


def _in_hf_cache() -> list[Found]:
    """Each model repo in the cache, at its newest complete snapshot."""
    found = []
    for repo in sorted(hf_cache().glob("models--*--*")):
        usable = next((snapshot for snapshot in _snapshots(repo) if _usable(snapshot)), None)
        if usable:
            found.append(Found(_cached_name(repo), usable, "the Hugging Face cache"))
    return found


def found() -> list[Found]:
    """Every usable model on this computer, Tailor's own first."""
    models = [Found(path.name.replace("--", "/", 1), path, "Tailor")
              for path in sorted((data_home() / "models" / "hub").glob("*--*"))
              if not path.name.endswith(PARTIAL) and _usable(path)]
    models += _in_hf_cache()
    for folder in lm_studio_folders():
        models += [Found(f"{path.parent.name}/{path.name}", path, "LM Studio")
                   for path in sorted(folder.glob("*/*")) if _usable(path)]
    return models


def find(repo_id: str) -> Path | None:
    """The folder holding `repo_id` on this computer, or None (names are matched as the hub does: any case). Only the
    folders that could hold it are looked at, so the window can ask often."""
    wanted = repo_id.lower()
    candidates = [tailor_folder(repo_id)]
    for repo in hf_cache().glob("models--*--*"):
        if _cached_name(repo).lower() == wanted:
            candidates += _snapshots(repo)
    for folder in lm_studio_folders():
        candidates += [path for path in folder.glob("*/*") if f"{path.parent.name}/{path.name}".lower() == wanted]
    return next((path for path in candidates if _usable(path)), None)


def place_of(path: Path) -> str:
    """Where a found model is, in words."""
    path = Path(path)
    if path.is_relative_to(hf_cache()):
        return "in the Hugging Face cache"
    if any(path.is_relative_to(folder) for folder in lm_studio_folders()):
        return "in LM Studio's models"
    return "downloaded by Tailor" if path.is_relative_to(data_home()) else str(path)
