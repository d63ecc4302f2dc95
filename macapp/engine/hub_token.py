"""The Hugging Face access token a gated or private model, or an upload, needs: kept in the macOS Keychain (through
keyring), never in a file, a job or a log. HF_TOKEN in the environment wins, as in Hugging Face's own tools."""

import os
import re

from .errors import InputError

SERVICE, ACCOUNT = "Tailor", "Hugging Face access token"
TOKEN = re.compile(r"hf_[A-Za-z0-9]{30,}")
TOKENS_PAGE = "https://huggingface.co/settings/tokens"


class TokenError(InputError):
    """A token that cannot be kept or is not a token; the message says what to do."""


def get() -> str | None:
    """The token to send to the hub, or None when the person has not signed in."""
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"]
    try:
        import keyring

        return keyring.get_password(SERVICE, ACCOUNT)
    except Exception:  # no keychain here (keyring's errors vary by backend): the same as not signed in
        return None


def save(token: str) -> None:
    """Keep `token` in the Keychain, after checking it looks like one (the hub checks the rest on first use)."""
    token = token.strip()
    if not TOKEN.fullmatch(token):
        raise TokenError(f"That is not a Hugging Face access token: tokens start with hf_ and are about 37 letters "
                         f"long. Copy one from {TOKENS_PAGE} (Read access is enough to download models; sharing "
                         "your own needs Write).")
    try:
        import keyring

        keyring.set_password(SERVICE, ACCOUNT, token)
    except Exception as error:
        raise TokenError(f"The token could not be kept in this computer's keychain ({error}). Set HF_TOKEN in the "
                         "environment instead.") from None


def forget() -> None:
    try:
        import keyring

        keyring.delete_password(SERVICE, ACCOUNT)
    except Exception:  # nothing kept, or no keychain: nothing to forget either way
        pass
