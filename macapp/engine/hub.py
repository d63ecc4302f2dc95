"""Upload a fused model or an adapter to the Hugging Face hub, with a token the user gives.

Nothing is sent without a token and a repository name; every failure (no network, a bad token, a
name taken by someone else) comes back as a plain message.
"""

import re
from pathlib import Path

from . import events as ev
from .export import ExportError

REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def check(folder: Path, repo: str, token: str | None) -> None:
    if not REPO.match(repo or ""):
        raise ExportError(f"{repo!r} is not a Hugging Face repository name; write it as your-name/model-name.")
    if not token:
        raise ExportError("Uploading needs a Hugging Face access token with write access: create one at "
                          "https://huggingface.co/settings/tokens and give it with --token (or HF_TOKEN).")
    if not (Path(folder) / "config.json").exists() and not (Path(folder) / "adapter_config.json").exists():
        raise ExportError(f"{folder} holds no model or adapter to upload. Fuse the model first.")


def upload(folder, repo: str, token: str | None, private: bool = True, report=lambda event: None) -> str:
    """Upload the folder's files to `repo` (created, private by default, if it does not exist); returns its URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    check(folder, repo, token)
    api = HfApi(token=token)
    report({"type": ev.LOG, "message": f"Uploading {Path(folder).name} to {repo}"})
    try:
        api.create_repo(repo, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo, folder_path=str(folder), commit_message="Upload from Tailor")
    except OfflineModeIsEnabled:
        raise ExportError("Uploading is not possible offline (HF_HUB_OFFLINE is set).") from None
    except HfHubHTTPError as error:
        raise ExportError(f"The Hugging Face hub refused the upload: {error}") from None
    except OSError as error:
        raise ExportError(f"Could not reach the Hugging Face hub: {error}. Check the network.") from None
    return f"https://huggingface.co/{repo}"
