"""The model that writes made data or judges answers, chosen from what runs on this Mac: the models of the servers
found on their usual ports (Ollama, LM Studio, mlx_lm server), the MLX models already here, or a server address.

Servers are looked for on a thread (plain HTTP with short timeouts), so the window never waits for them.
"""

import threading

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ...engine.data import endpoints
from ...engine.errors import InputError
from ...engine.models import model_places
from ...engine.words import THIS_COMPUTER
from ..pages.page import note

TYPED = "typed"


class ModelSource(QWidget):
    """`choice()` gives the recipe's fields for the model chosen: endpoint and api_model, or model."""

    found = Signal(list)  # the servers a look found, from the looking thread

    def __init__(self, parent=None, role: str = "writes the examples"):
        super().__init__(parent)
        self.role = role
        self.choices = QComboBox()
        self.choices.setMinimumContentsLength(40)
        self.choices.currentIndexChanged.connect(self._chosen)
        self.again = QPushButton("Look again")
        self.again.clicked.connect(self.look)
        self.address = QLineEdit(placeholderText="the server's address, e.g. http://192.168.1.20:11434")
        self.address.hide()
        self.status = note()
        row = QHBoxLayout()
        row.addWidget(self.choices, 1)
        row.addWidget(self.again)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(row)
        column.addWidget(self.address)
        column.addWidget(self.status)
        self.found.connect(self._show)
        self.options: list[dict] = []
        self.wanted: dict | None = None

    def look(self) -> None:
        """Look for servers again; the list fills in when they have answered."""
        self.again.setEnabled(False)
        self.status.setText(f"Looking for Ollama, LM Studio and other model servers on {THIS_COMPUTER}\u2026")
        threading.Thread(target=lambda: self.found.emit(endpoints.find()), daemon=True).start()

    def _add(self, words: str, option: dict) -> None:
        self.options.append(option)
        self.choices.addItem(words, len(self.options) - 1)

    def _show(self, servers: list) -> None:
        kept = self._option()
        self.choices.blockSignals(True)
        self.choices.clear()
        self.options = []
        for server in servers:
            for model in server.models:
                self._add(f"{model} \u2014 {server.name}", {"endpoint": server.url, "api_model": model, "model": None})
        for found in model_places.found():
            self._add(f"{found.name} \u2014 MLX, loaded by Tailor ({found.place})",
                      {"endpoint": None, "model": str(found.path)})
        self._add("The demo model \u2014 tiny, for trying this out (its writing is poor)", {"endpoint": None,
                                                                                            "model": "demo"})
        self._add("Another server, by its address\u2026", {TYPED: True})
        self.choices.setCurrentIndex(self.options.index(kept) if kept in self.options else 0)
        self.choices.blockSignals(False)
        if self.wanted:
            self.choose(self.wanted)
        self._chosen()
        self.again.setEnabled(True)
        self.status.setText("Found " + "; ".join(s.words() for s in servers) + "." if servers else
                            f"No model server is running on {THIS_COMPUTER}. Open Ollama or LM Studio (and start its "
                            "local server) and press Look again, or choose an MLX model, which Tailor loads itself.")

    def _option(self) -> dict | None:
        index = self.choices.currentData()
        return self.options[index] if index is not None and index < len(self.options) else None

    def _chosen(self) -> None:
        typed = TYPED in (self._option() or {})
        self.address.setVisible(typed)
        self.status.setVisible(not typed)  # what the look found says nothing of an address typed in

    def choose(self, recipe: dict) -> None:
        """Show the model a kept recipe used (a resumed job goes on with it unless another is chosen); before the
        look for servers has answered, it is chosen when it does."""
        self.wanted = recipe if not self.options else None
        for index, option in enumerate(self.options):
            if all(recipe.get(key) == value for key, value in option.items()):
                self.choices.setCurrentIndex(index)
                return
        if recipe.get("endpoint") and self.options:
            self.choices.setCurrentIndex(len(self.options) - 1)
            self.address.setText(recipe["endpoint"])

    def choice(self) -> dict:
        """{"endpoint", "api_model"} or {"model"}; an InputError says what to choose or type."""
        option = self._option()
        if not option:
            raise InputError(f"Choose the model that {self.role}.")
        if TYPED not in option:
            return dict(option)
        url = endpoints.base_url(self.address.text()) if self.address.text().strip() else ""
        if not url:
            raise InputError("Type the address of the model server, e.g. http://192.168.1.20:11434.")
        return {"endpoint": url, "api_model": endpoints.models_of(url)[0], "model": None}
