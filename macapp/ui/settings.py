"""The app's preferences in QSettings: last folders, window geometry, the preferred model, the Hugging Face name.

Each value is read with an explicit type. With TAILOR_HOME set (tests, a portable setup) they live in
an INI file there instead of the system's preferences, so tests never touch a user's settings.
"""

import hashlib
import json
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

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
    hub_user = _Value("hub/user", "", str)  # the Hugging Face account last shared with, for naming the next one
    geometry = _Value("window/geometry", QByteArray(), QByteArray)

    def __init__(self, store: QSettings | None = None):
        if store is None:
            if os.environ.get("TAILOR_HOME"):
                store = QSettings(str(data_home() / "settings.ini"), QSettings.IniFormat)
            else:
                store = QSettings("Tailor", "Tailor")
        self.store = store

    @property
    def data_folder(self) -> str:
        """Where choosing data starts: the folder data was last chosen in, else the Documents folder."""
        return self.last_data_folder or QStandardPaths.writableLocation(QStandardPaths.DocumentsLocation) \
            or str(Path.home())

    @staticmethod
    def _mapping_key(sources: list[str]) -> str:
        joined = "\n".join(str(Path(s).resolve()) for s in sources)
        return "mappings/" + hashlib.sha1(joined.encode()).hexdigest()

    def mapping_for(self, sources: list[str]) -> dict | None:
        """The columns the person chose for these files last time, if they chose any."""
        try:
            return json.loads(self.store.value(self._mapping_key(sources), "", type=str)) or None
        except ValueError:
            return None

    def remember_mapping(self, sources: list[str], mapping: dict | None) -> None:
        self.store.setValue(self._mapping_key(sources), json.dumps(mapping) if mapping else "")

    def sync(self) -> None:
        self.store.sync()
