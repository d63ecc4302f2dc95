"""The Hugging Face access token a gated or private model, or an upload, needs: kept in the macOS Keychain (through
keyring), never in a file, a job or a log. HF_TOKEN in the environment wins, as in Hugging Face's own tools."""

import os
import re

from ..errors import InputError
from ..words import THIS_COMPUTER

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
    except Exception as error:  # keyring's errors vary by backend
        raise TokenError(_keychain_words(error)) from None


def _keychain_words(error: Exception) -> str:
    """Why the keychain did not keep the token, in plain words, with the other way to give it."""
    from keyring.errors import NoKeyringError

    instead = ("Instead, give the token to Tailor as HF_TOKEN: in Terminal, type export HF_TOKEN= followed by the "
               "token, then open Tailor from that same Terminal (tailor app).")
    if isinstance(error, NoKeyringError):
        return f"{THIS_COMPUTER[0].upper()}{THIS_COMPUTER[1:]} has no keychain Tailor can keep the token in. {instead}"
    return (f"The keychain did not keep the token: it may be locked, or Tailor was not allowed to use it. Unlock it "
            f"and try again. {instead}")


def forget() -> None:
    try:
        import keyring

        keyring.delete_password(SERVICE, ACCOUNT)
    except Exception:  # nothing kept, or no keychain: nothing to forget either way
        pass
