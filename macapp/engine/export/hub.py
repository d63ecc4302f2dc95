"""Upload a fused model or an adapter to the Hugging Face hub in one commit, with its model card as README.md, using
the token kept by hub_token (HF_TOKEN wins) or one given on the command line.

Nothing is sent without a token and a repository name; every failure (no network, a silent hub, a bad token, a token
that can only read, a name that belongs to someone else) comes back as a plain message.
"""

import math
import re
from pathlib import Path

from .. import waiting
from ..errors import RunFailed
from ..models.hub_token import TOKENS_PAGE
from ..runs import events as ev
from .export import ExportError

REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
SIGN_IN = (f"Make an access token with Write access at {TOKENS_PAGE}, then sign in: Sign in to Hugging Face in "
           "Tailor's Export step, or `tailor models login` in a terminal. Tailor keeps it in the Keychain.")
READ_ONLY = f"This token can only read: make one with write access at {TOKENS_PAGE} and sign in with it."


def name_problem(repo: str) -> str:
    """Why `repo` cannot be a repository name, in plain words; '' for a good one."""
    if REPO.match(repo or ""):
        return "" if len(repo.split("/")[1]) <= 96 else "The model's name is too long: 96 letters at most."
    if "/" not in (repo or ""):
        return "Write the name as your-name/model-name: your Hugging Face name, a slash, then the model's name."
    return ("A name may hold only letters, digits, '-', '_' and '.', with one slash between your name and the "
            "model's, and may not start with '-' or '.'.")


def check(folder: Path, repo: str, token: str | None, fused_first: bool = False) -> None:
    """Refuse, before anything is sent, a bad name, no token, or a folder with nothing to upload (unless the job
    fuses the model into it first)."""
    if problem := name_problem(repo):
        raise ExportError(f"{repo!r} is not a Hugging Face repository name. {problem}")
    if not token:
        raise ExportError(f"Uploading to Hugging Face needs you to be signed in. {SIGN_IN}")
    if fused_first:
        return
    if not (Path(folder) / "config.json").exists() and not (Path(folder) / "adapter_config.json").exists():
        raise ExportError(f"{folder} holds no model or adapter to upload. Make the standalone model first.")


def upload(folder, repo: str, token: str | None, private: bool = True, extra: dict | None = None,
           report=lambda event: None, should_stop=lambda: False) -> dict:
    """Upload the folder's files to `repo` (created, private by default, if it does not exist) in one commit; `extra`
    ({name: bytes}, such as the model card as README.md) goes into that commit only, in place of the folder's file
    of the same name, so the folder on this Mac is left as it was. Returns the model page's address, the account's
    name and whether the repository is private, as the hub says after the commit (one that existed keeps its own).
    A stop ends the wait on the hub at once: the commit then lands whole or not at all."""
    from huggingface_hub import CommitOperationAdd, HfApi, get_session
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    check(folder, repo, token)
    folder = Path(folder)
    # huggingface_hub waits for ever by default: each wait on the hub (for an answer, or to take what is sent) now
    # ends after about a minute of silence, however long the whole upload takes.
    get_session().timeout = waiting.socket_timeout()
    api = HfApi(token=token)
    try:
        user = _account(waiting.call(api.whoami, should_stop), repo)
        report({"type": ev.LOG, "message": f"Uploading {folder.name} to {repo}"})
        waiting.call(lambda: api.create_repo(repo, private=private, exist_ok=True), should_stop)
        extra = extra or {}
        # The folder's own files only: an adapter folder also holds the best adapter, in a folder of its own.
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.name not in extra)
        operations = [CommitOperationAdd(p.name, str(p)) for p in files]
        operations += [CommitOperationAdd(name, data) for name, data in extra.items()]
        # Sending gigabytes takes as long as it takes: the socket's timeout is what notices a silent hub then.
        waiting.call(lambda: api.create_commit(repo, operations, commit_message="Upload from Tailor"), should_stop,
                     math.inf)
        info = waiting.call(lambda: api.repo_info(repo, timeout=waiting.socket_timeout()), should_stop)
        private = bool(info.private)  # its default: no timeout
    except OfflineModeIsEnabled:
        raise ExportError("Uploading is not possible offline (HF_HUB_OFFLINE is set).") from None
    except HfHubHTTPError as error:
        raise _refused(error, repo) from None
    except Exception as error:
        if isinstance(error, waiting.Silent) or any(k.__name__ == "TimeoutException" for k in type(error).__mro__):
            seconds = error.seconds if isinstance(error, waiting.Silent) else waiting.socket_timeout()
            raise RunFailed(f"Hugging Face took the upload to {repo} but then said nothing for "
                            f"{waiting.seconds_words(seconds)}: the upload stopped there.",
                            "The files on this Mac are as they were, and the upload is one commit, so Hugging Face "
                            "has all of it or none of it: check the internet connection and upload again.") from None
        if isinstance(error, OSError) or any(k.__name__ == "TransportError" for k in type(error).__mro__):
            raise RunFailed("Could not reach Hugging Face to upload.",
                            "Check the internet connection and upload again.") from None
        raise
    return {"url": f"{api.endpoint}/{repo}", "user": user, "private": private}


def seen_by(result: dict, asked_private: bool) -> str:
    """Who can see the uploaded model, from what the hub said, and when that is not what was asked, why."""
    if result["private"] == asked_private:
        return "only you can see it" if asked_private else "anyone can see it"
    if asked_private:
        return ("it is public, because it already was on Hugging Face: anyone can see it. To hide it, open the "
                "model's Settings on Hugging Face and make it private")
    return ("it is private, because it already was on Hugging Face: only you can see it. To share it, open the "
            "model's Settings on Hugging Face and make it public")


def _account(account: dict, repo: str) -> str:
    """The token's account name (`account` as the hub describes it), after refusing a token that can only read or a
    name in someone else's space."""
    if (account.get("auth", {}).get("accessToken") or {}).get("role") == "read":
        raise ExportError(READ_ONLY)
    owner, names = repo.split("/")[0], [account["name"], *(org["name"] for org in account.get("orgs", []))]
    if owner not in names:
        raise ExportError(f"{owner} is not your name on Hugging Face (you are {account['name']}), so you cannot "
                          f"put models there. Name it {account['name']}/{repo.split('/')[1]}.")
    return account["name"]


def _refused(error, repo: str) -> Exception:
    """What a refusal by the hub means for the person, by its status."""
    status = error.response.status_code if error.response is not None else None
    if status == 401:
        return ExportError(f"Hugging Face did not accept the token: it may have been deleted or mistyped. {SIGN_IN}")
    if status == 403:
        return ExportError(f"Hugging Face did not let this token write to {repo}: the token can only read, or the "
                           f"name belongs to someone else. Make a token with write access at {TOKENS_PAGE}, or "
                           "choose a name under your own.")
    if status == 409:
        return RunFailed(f"{repo} changed on Hugging Face while uploading, or the name is used by a dataset or a "
                         "Space.", "Upload again, or choose another name.")
    return RunFailed(f"Hugging Face could not take the upload (it answered {status}).",
                     "Try again in a few minutes.")
