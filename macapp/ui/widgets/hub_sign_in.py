"""Signing in to Hugging Face from the window: a link-like button that asks for an access token and keeps it in the
Keychain (hub_token), or forgets it. The model picker (gated models) and the Export step's Share box both use it.
"""

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QInputDialog, QLineEdit, QToolButton

from ...engine.models import hub_token


class SignInButton(QToolButton):
    """"Sign in to Hugging Face…", or "Signed in to Hugging Face · Sign out". `changed()` follows a sign-in or out;
    `problem(text)` says why a pasted token was not kept."""

    changed = Signal()
    problem = Signal(str)

    def __init__(self, why: str, tip: str, parent=None):
        super().__init__(parent)
        self.why = why  # the dialog's words: what the token is for, and the access it needs
        self.setToolTip(tip)
        self.setStyleSheet("QToolButton { border: none; color: #0b57d0; }")
        self.signed_in = hub_token.get() is not None  # asked once: each look is a Keychain lookup
        self.clicked.connect(self._sign_in_or_out)
        self._show()

    def _show(self) -> None:
        self.setText("Signed in to Hugging Face \u00b7 Sign out" if self.signed_in else "Sign in to Hugging Face\u2026")

    def refresh(self) -> None:
        """Look again (another part of the window may have signed in or out)."""
        self.signed_in = hub_token.get() is not None
        self._show()

    def _sign_in_or_out(self) -> None:
        if self.signed_in:
            hub_token.forget()
        else:
            token, given = QInputDialog.getText(self, "Sign in to Hugging Face", self.why, QLineEdit.Password)
            if not given or not token.strip():
                return
            try:
                hub_token.save(token)
            except hub_token.TokenError as error:
                self.problem.emit(str(error))
                return
        self.refresh()
        self.changed.emit()
