"""The app's preferences in QSettings: last folders, window geometry, preferred model, first start.

Each value is read with an explicit type. With TAILOR_HOME set (tests, a portable setup) they live in
an INI file there instead of the system's preferences, so tests never touch a user's settings.
"""

import os

from PySide6.QtCore import QByteArray, QSettings

from ..engine.files import data_home


class Settings:
    def __init__(self, store: QSettings | None = None):
        if store is None:
            if os.environ.get("TAILOR_HOME"):
                store = QSettings(str(data_home() / "settings.ini"), QSettings.IniFormat)
            else:
                store = QSettings("Tailor", "Tailor")
        self.store = store

    def _get(self, key: str, default, kind):
        return self.store.value(key, default, type=kind)

    @property
    def last_data_folder(self) -> str:
        return self._get("folders/data", "", str)

    @last_data_folder.setter
    def last_data_folder(self, value: str) -> None:
        self.store.setValue("folders/data", value)

    @property
    def last_model_folder(self) -> str:
        return self._get("folders/model", "", str)

    @last_model_folder.setter
    def last_model_folder(self, value: str) -> None:
        self.store.setValue("folders/model", value)

    @property
    def preferred_model(self) -> str:
        return self._get("model/preferred", "demo", str)

    @preferred_model.setter
    def preferred_model(self, value: str) -> None:
        self.store.setValue("model/preferred", value)

    @property
    def geometry(self) -> QByteArray:
        return self._get("window/geometry", QByteArray(), QByteArray)

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.store.setValue("window/geometry", value)

    def sync(self) -> None:
        self.store.sync()
