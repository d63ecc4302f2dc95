"""The app's preferences in QSettings: last folders, window geometry and the preferred model.

Each value is read with an explicit type. With TAILOR_HOME set (tests, a portable setup) they live in
an INI file there instead of the system's preferences, so tests never touch a user's settings.
"""

import os

from PySide6.QtCore import QByteArray, QSettings

from ..engine.files import data_home


class _Value:
    """One preference: its key, its default, and the type it is always read as."""

    def __init__(self, key: str, default, kind):
        self.key, self.default, self.kind = key, default, kind

    def __get__(self, settings, owner=None):
        return self if settings is None else settings.store.value(self.key, self.default, type=self.kind)

    def __set__(self, settings, value) -> None:
        settings.store.setValue(self.key, value)


class Settings:
    last_data_folder = _Value("folders/data", "", str)
    last_model_folder = _Value("folders/model", "", str)
    preferred_model = _Value("model/preferred", "demo", str)
    geometry = _Value("window/geometry", QByteArray(), QByteArray)

    def __init__(self, store: QSettings | None = None):
        if store is None:
            if os.environ.get("TAILOR_HOME"):
                store = QSettings(str(data_home() / "settings.ini"), QSettings.IniFormat)
            else:
                store = QSettings("Tailor", "Tailor")
        self.store = store

    def sync(self) -> None:
        self.store.sync()
