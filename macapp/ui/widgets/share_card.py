"""The Export step's "Share on Hugging Face" box: a name checked as it is typed, the standalone model or just the
adapter, private or public, signing in, then one upload in a worker that ends with a link to the model's page.
"""

from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit

from ... import jobs
from ...engine.export import hub, ollama
from ...engine.models import hub_token
from ..pages.page import note
from .export_cards import BAD, GOOD, ExportCard, choice_box
from .hub_sign_in import SignInButton


class ShareCard(ExportCard):
    action = "Upload"

    def __init__(self, page):
        super().__init__("Share on Hugging Face", "Put your model on Hugging Face with a page that says how it was "
                         "made and how it scored (your examples themselves are not shared).", page)
        self.name = QLineEdit(placeholderText="your-name/model-name")
        self.name.textChanged.connect(self._check_name)
        self.what = choice_box((("The standalone model (runs on its own)", "fused"),
                                ("Just the adapter (small; runs with the original model)", "adapter")))
        self.visibility = choice_box((("Private: only you can see it", True),
                                      ("Public: anyone can see and download it", False)))
        self.name_problem = note(color="#c62828")
        self.name_problem.hide()
        self.sign_in = SignInButton(
            "Sharing on Hugging Face needs an access token with Write access: make one at "
            "huggingface.co/settings/tokens (choose Write) and paste it here. Tailor keeps it in your Keychain.",
            "Uploading needs a Hugging Face access token with Write access; it is kept in your Keychain.")
        self.sign_in.changed.connect(self._signed_in_or_out)
        self.sign_in.problem.connect(lambda text: self.say(text, BAD))
        self.link = QLabel(openExternalLinks=True)
        self.link.hide()
        form = QHBoxLayout()
        form.addWidget(QLabel("Name on Hugging Face:"))
        form.addWidget(self.name, 1)
        what = QHBoxLayout()  # on a row of their own: the window stays narrow enough for a small screen
        what.addWidget(self.what, 1)
        what.addWidget(self.visibility, 1)
        layout = self.layout()
        layout.insertLayout(1, form)
        layout.insertLayout(2, what)
        layout.insertWidget(3, self.name_problem)
        self.options.addWidget(self.sign_in)
        self.options.addStretch(1)
        layout.addWidget(self.link)

    def show_run(self, run_name: str) -> None:
        """Name it `<your name>/<the run's name>` when Tailor knows your name from an earlier upload; what was said
        of the last run's upload (its link, an error) goes."""
        super().show_run(run_name)
        self.link.hide()
        user = self.page.settings.hub_user if self.page.settings else ""
        self.name.setText(f"{user}/{ollama.default_name(run_name)}" if user else "")

    def _check_name(self, text: str) -> None:
        problem = hub.name_problem(text.strip()) if text.strip() else ""
        self.name_problem.setText(problem)
        self.name_problem.setVisible(bool(problem))

    def _signed_in_or_out(self) -> None:
        if not self.sign_in.signed_in and self.page.settings:  # another account may sign in next
            self.page.settings.hub_user = ""
        self.say("Signed in: you can upload now." if self.sign_in.signed_in else "Signed out.")

    def start(self) -> None:
        problem = hub.name_problem(self.name.text().strip())
        if problem:
            self.say(f"Give the model a name first. {problem}", BAD)
            return
        if not self.sign_in.signed_in:
            self.say("Sign in to Hugging Face first (beside Upload), with a token that has Write access.", BAD)
            return
        fused = self.what.currentData() == "fused"
        made = (self.exports() / "fused" / "config.json").exists()
        self.busy_words = ("Merging the adapter into the model, then uploading it\u2026" if fused and not made else
                           "Uploading to Hugging Face\u2026")
        self.link.hide()
        super().start()

    def job_spec(self, base: dict) -> jobs.Job:
        fused = self.what.currentData() == "fused"
        return jobs.UploadJob(run=base["run"], repo=self.name.text().strip(), private=self.visibility.currentData(),
                              folder=str(self.exports() / "fused") if fused else base["adapter"],
                              source=str(self.page.plan.run_dir),
                              **({"model": base["model"], "adapter": base["adapter"]} if fused else {}))

    def secrets(self) -> dict:
        return {"HF_TOKEN": hub_token.get() or ""}

    def finished(self, result: dict) -> None:
        self.say(f"Uploaded, with a model card written from this run; "
                 f"{hub.seen_by(result, self.visibility.currentData())}.", GOOD)
        self.link.setText(f'<a href="{result["url"]}">Open its page on Hugging Face: {result["url"]}</a>')
        self.link.show()
        if self.page.settings:
            self.page.settings.hub_user = result["user"]
