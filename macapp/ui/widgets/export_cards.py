"""The ways out of the Export step, one box each: a standalone model, a GGUF for llama.cpp and LM Studio,
an Ollama model, and a local OpenAI-compatible API. Each runs its own worker job and says plainly what it made."""

import shutil
from pathlib import Path

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QComboBox, QGroupBox, QHBoxLayout, QLineEdit, QPlainTextEdit, QProgressBar, QPushButton,
                               QVBoxLayout)

from ... import jobs
from ...engine import bundle
from ...engine.evaluate import report as reports
from ...engine.export import gguf_tools, ollama
from ...engine.models import models
from ...engine.runs import events as ev
from ...engine.words import THIS_COMPUTER
from ..bridge import Job
from ..feedback import failure_words
from ..pages.page import note

GOOD, BAD = "color: #2e7d32;", "color: #c62828;"


def choice_box(choices) -> QComboBox:
    """A drop-down of (words shown, value) pairs."""
    box = QComboBox()
    for words, value in choices:
        box.addItem(words, value)
    return box


class ExportCard(QGroupBox):
    """A titled box with one action: its button starts `job()`, Cancel stops it (a stopped export leaves nothing
    behind); `finished(result)` shows the outcome."""

    action = ""
    busy_words = ""
    stop_words = "Cancel"

    def __init__(self, title: str, words: str, page):
        super().__init__(title)
        self.page = page
        self.job = Job(self)
        self.job.event.connect(self._event)
        self.job.ended.connect(self._ended)
        self.button = QPushButton(self.action)
        self.button.clicked.connect(self.start)
        self.stop_button = QPushButton(self.stop_words)
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.hide()
        self.progress = QProgressBar(maximumHeight=6, textVisible=False)
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.status = note()
        self.options = QHBoxLayout()
        self.options.addWidget(self.button)
        self.options.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addWidget(note(words))
        layout.addLayout(self.options)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

    def job_spec(self, base: dict) -> jobs.Job:
        """The card's job, from `base`: the job folder (run), the run's model and its chosen adapter."""
        raise NotImplementedError

    def start(self) -> None:
        if self.page.plan.run_dir is None or self.job.running:
            return
        self.button.setEnabled(False)
        self.stop_button.show()
        self.progress.show()
        self.say(self.busy_words)
        model, adapter = self.page.model_and_adapter()
        self.job.start(self.job_spec({"run": str(jobs.scratch_folder(self.__class__.__name__.lower())),
                                      "model": model, "adapter": str(adapter)}), self.secrets())

    def stop(self) -> None:
        self.job.stop()
        self.stop_button.setEnabled(False)

    def show_run(self, run_name: str) -> None:
        """Another run is shown: what was said of the last one's export goes."""
        self.say("")
        self.status.setToolTip("")

    def secrets(self) -> dict | None:
        """What the job needs that must never be written into its job file (a token): given to the worker only."""
        return None

    def say(self, text: str, style: str = "") -> None:
        self.status.setText(text)
        self.status.setStyleSheet(style)

    def _event(self, event: dict) -> None:
        if event.get("type") == ev.LOG:
            self.say(event["message"])

    def _ended(self, event: dict) -> None:
        self.button.setEnabled(True)
        self.stop_button.hide()
        self.stop_button.setEnabled(True)
        self.progress.hide()
        if event["type"] == ev.DONE and event["result"].get("stopped"):
            self.say("Cancelled: nothing was written.")
        elif event["type"] == ev.DONE:
            self.finished(event["result"])
        else:
            self.say(failure_words("Could not finish", event, self, "exporting"), BAD)

    def finished(self, result: dict) -> None:
        raise NotImplementedError

    def exports(self) -> Path:
        return Path(self.page.plan.run_dir) / "exports"


class FuseCard(ExportCard):
    action = "Make a standalone model"
    busy_words = "Merging the adapter into the model\u2026"

    def __init__(self, page):
        super().__init__("Standalone model", "The model with what it learned merged in: a folder that mlx-lm, "
                         "LM Studio and Hugging Face tools open like any other model.", page)
        self.precision = choice_box((("Full precision (recommended)", 0), ("8-bit (half the size)", 8),
                                     ("4-bit (a quarter of the size)", 4)))
        self.options.addWidget(self.precision)
        self.options.addStretch(1)

    def job_spec(self, base: dict) -> jobs.Job:
        return jobs.FuseJob(**base, out=str(self.exports() / "fused"), bits=self.precision.currentData(),
                            overwrite=True)

    def finished(self, result: dict) -> None:
        self.say(f"Saved the standalone model to {result['path']}", GOOD)
        self.page.open_button.show()


class GgufCard(ExportCard):
    action = "Make the file"
    busy_words = "Merging, converting with llama.cpp's converter, then checking it with llama.cpp\u2026"

    def __init__(self, page):
        super().__init__("One file for llama.cpp and LM Studio (GGUF)", "One file that llama.cpp, LM Studio and "
                         "Ollama load. Tailor measures it with llama.cpp on your own examples: it must pick the same "
                         "next words as your model.", page)
        self.setToolTip("GGUF is the file format of llama.cpp, which LM Studio and Ollama use too.")
        self.outtype = choice_box((("Exact: your model's own precision (largest)", ""),
                                   ("8-bit, q8_0: half the size, nearly exact", "q8_0"),
                                   ("6-bit, Q6_K: very close", "Q6_K"), ("5-bit, Q5_K_M: close", "Q5_K_M"),
                                   ("4-bit, Q4_K_M: a quarter of the size, for 8–16 GB Macs", "Q4_K_M")))
        self.options.addWidget(self.outtype)
        self.options.addStretch(1)
        self.checker = ExportCheck(self, "Ask the GGUF your held-out questions in llama.cpp (and the run's Ollama "
                                         "model in Ollama, when it runs), with the settings of your last scoring, "
                                         "and see whether it answers as the model you tested did.")

    def show_run(self, run_name: str) -> None:
        super().show_run(run_name)
        self.checker.reset()

    def start(self) -> None:
        missing = gguf_tools.missing_tools()
        if missing and bundle.inside_app():  # pip cannot install into the (signed, read-only) app
            self.say(f"Making the file needs {' and '.join(missing)}, which Tailor.app does not include. Make it from "
                     f"Tailor's source folder: tailor export --run {Path(self.page.plan.run_dir).name} --gguf f16",
                     BAD)
            return
        if missing and self.button.text() == self.action:
            self.say(f"Making the file needs {' and '.join(missing)}, which Tailor installs once (llama.cpp is "
                     f"built on {THIS_COMPUTER}: about ten minutes).")
            self.button.setText("Install the tools")
            return
        super().start()

    def job_spec(self, base: dict) -> jobs.Job:
        if self.button.text() != self.action:
            return jobs.InstallExportJob(run=base["run"])
        kind = self.outtype.currentData() or gguf_tools.default_type(models.config_of(base["model"]))
        return jobs.GgufJob(**base, outtype=kind, out=str(self.exports() / f"gguf-{kind}"), overwrite=True,
                            data=str(Path(self.page.plan.run_dir) / "data"), run_name=Path(self.page.plan.run_dir).name)

    def finished(self, result: dict) -> None:
        if "installed" in result:
            self.button.setText(self.action)
            self.say("The tools are installed. Make the file now.", GOOD)
            return
        measured = result.get("fidelity")
        lines = [f"Saved {result['path']}", f"Checked: {measured['summary']}." if measured else "Not checked."]
        lines += [f"Note: {measured['warning']}"] if measured and measured.get("warning") else []
        name = ollama.default_name(Path(self.page.plan.run_dir).name)
        self.say("\n".join(lines + ollama_lines(result, name)), GOOD)
        self.status.setToolTip(measured["words"] if measured else "")  # the figures, for the curious
        self.page.open_button.show()
        self.checker.offer(result["path"])


class ExportCheck:
    """A card's "Check the exported model": the run's held-out questions asked of the export (the GGUF in llama.cpp,
    the run's Ollama model in Ollama) with the sampling of the run's last scoring, and compared with the tested
    model's answers; said on the card."""

    def __init__(self, card: ExportCard, tip: str):
        self.card, self.gguf = card, None
        self.job = Job(card)
        self.job.event.connect(self._checking)
        self.job.ended.connect(self._checked)
        self.button = QPushButton("Check the exported model")
        self.button.setToolTip(tip)
        self.button.clicked.connect(self.check)
        self.button.hide()
        card.options.addWidget(self.button)

    def offer(self, gguf: str | None) -> None:
        """The export is made: offer to check it (`gguf`, the file made, or None for an Ollama model alone)."""
        self.gguf = gguf
        self.button.show()

    def reset(self) -> None:
        if self.job.running:
            self.job.cancel()
        self.gguf = None
        self.button.hide()

    def check(self) -> None:
        page = self.card.page
        if self.job.running or page.plan.run_dir is None:
            return
        saved = reports.read(page.plan.run_dir) or {}
        self.button.setEnabled(False)
        self.card.progress.show()
        self.card.say("Asking your tested model and then the exported one the held-out questions\u2026")
        self.job.start(jobs.CheckExportJob(run=str(jobs.scratch_folder("check-export")),
                                           source=str(page.plan.run_dir), gguf=self.gguf,
                                           checkpoint=page.adapter.currentData() or "last",
                                           sampling=saved.get("sampling")))

    def _checking(self, event: dict) -> None:
        if event.get("type") in (ev.LOG, ev.PROGRESS) and event.get("message"):
            self.card.say(event["message"])

    def _checked(self, event: dict) -> None:
        self.button.setEnabled(True)
        self.card.progress.hide()
        result = event.get("result") or {}
        if event["type"] != ev.DONE:
            self.card.say(failure_words("Could not check the exported model", event, self.card, "checking"), BAD)
        elif result.get("stopped"):
            self.card.say("Stopped before the check ended.")
        else:
            self.card.say(result["words"], GOOD if result["passed"] else BAD)


def ollama_lines(result: dict, name: str) -> list[str]:
    """What an export means for Ollama: a note on the template, and the model made or how to make it."""
    lines = [result["template"]["reason"]] if result["template"].get("reason") else []
    made = result.get("ollama")
    if made and made["installed"]:
        return lines + [f"Ollama model {made['name']} is ready: open Ollama and pick it, or run: ollama run "
                        f"{made['name']}"]
    command = made["command"] if made else " ".join(ollama.command(name, result["modelfile"]))
    start = f"Ollama is not installed: get it at {ollama.DOWNLOAD}, then run" if not shutil.which("ollama") else \
        "To make the Ollama model, run"
    return lines + [f"{start}: {command}"]


class OllamaCard(ExportCard):
    action = "Make the Ollama model"
    busy_words = "Merging what it learned into the model, then handing it to Ollama\u2026"

    def __init__(self, page):
        super().__init__("Ollama", "Your model in Ollama, under a name you choose: chat with it in Ollama or in any "
                         "app that uses Ollama.", page)
        self.name = QLineEdit(placeholderText="Name in Ollama, e.g. my-model")
        self.size = choice_box((("Exact: your model's own precision (largest)", None),
                                ("8-bit: half the size, nearly exact", "q8_0"),
                                ("4-bit: a quarter of the size, for 8–16 GB Macs", "q4_K_M")))
        self.options.addWidget(self.name, 1)
        self.options.addWidget(self.size)
        self.checker = ExportCheck(self, "Ask the Ollama model your held-out questions in Ollama, with the settings "
                                         "of your last scoring, and see whether it answers as the model you tested "
                                         "did.")

    def show_run(self, run_name: str) -> None:
        super().show_run(run_name)
        self.name.setText(ollama.default_name(run_name))
        self.checker.reset()

    def start(self) -> None:
        if not ollama.NAME.match(self.name.text().strip()):
            self.say("Give the model a name for Ollama: lowercase letters, digits and '-', for example "
                     "tiny-kitchen.", BAD)
            return
        config = models.config_of(self.page.model_and_adapter()[0])
        if not ollama.imports(config) and gguf_tools.missing_tools():
            self.say("Ollama cannot read this kind of model from its folder, so Tailor makes one file (GGUF) for it "
                     "first. Install the tools in the \u201cOne file\u201d box above, then come back here.", BAD)
            return
        super().start()

    def job_spec(self, base: dict) -> jobs.Job:
        run_dir = Path(self.page.plan.run_dir)
        return jobs.OllamaJob(**base, name=self.name.text().strip(), quantize=self.size.currentData(),
                              out=str(self.exports() / "ollama"), overwrite=True, data=str(run_dir / "data"),
                              run_name=run_dir.name)

    def finished(self, result: dict) -> None:
        through_gguf = result["route"] == "gguf"
        lines = [f"Saved the model for Ollama in {Path(result['path']).parent if through_gguf else result['path']}"]
        if through_gguf:
            lines.append("Ollama cannot read this kind of model from its folder, so Tailor made one file (GGUF) for "
                         f"it, checked: {result['fidelity']['summary']}.")
        self.say("\n".join(lines + ollama_lines(result, self.name.text().strip())), GOOD)
        self.status.setToolTip(result["fidelity"]["words"] if through_gguf else "")
        self.page.open_button.show()
        if result["ollama"].get("installed"):
            self.checker.offer(result["path"] if through_gguf else None)


class ServeCard(ExportCard):
    action = "Start the server"
    busy_words = "Loading the model into the server\u2026"
    stop_words = "Stop the server"

    def __init__(self, page):
        super().__init__("Local API", f"An OpenAI-compatible server on {THIS_COMPUTER} only (127.0.0.1): apps and "
                         "scripts that speak OpenAI's API can use your model.", page)
        self.copy_button = QPushButton("Copy the Python example")
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.python))
        self.copy_button.hide()
        self.options.addWidget(self.copy_button)
        self.options.addStretch(1)
        self.examples = QPlainTextEdit(readOnly=True, maximumHeight=120)
        self.examples.hide()
        self.layout().addWidget(self.examples)
        self.python = ""

    def job_spec(self, base: dict) -> jobs.Job:
        return jobs.ServeJob(**base)

    def _event(self, event: dict) -> None:
        if event.get("type") == ev.READY:
            self.progress.hide()
            self.button.hide()
            self.copy_button.show()
            self.python = event["python"]
            self.examples.setPlainText(f"{event['curl']}\n\n{event['python']}")
            self.examples.show()
            self.say(f"Serving at {event['url']}/v1 (model name: {event['name']}) until you stop it.", GOOD)
        else:
            super()._event(event)

    def _ended(self, event: dict) -> None:
        for widget in (self.copy_button, self.examples):
            widget.hide()
        self.button.show()
        super()._ended(event)

    def finished(self, result: dict) -> None:
        self.say("The server is stopped.")
