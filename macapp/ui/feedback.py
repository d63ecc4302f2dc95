"""One way the window tells a person that a job went wrong: what they can fix, in plain words on the page where
they fix it; what nobody expected, in one error dialog that keeps the technical details one click away to copy.
"""

from PySide6.QtWidgets import QMessageBox, QWidget

UNEXPECTED = "failure"  # the worker's category for an exception no one foresaw


def problem_words(event: dict, parent: QWidget, doing: str) -> str:
    """The words a page shows for a job's error event. An unexpected one also opens the error dialog, with the
    details to copy; `doing` says what the job was doing ("reading the data", "scoring")."""
    if event.get("category") != UNEXPECTED:
        return " ".join(part for part in (event.get("message", ""), event.get("fix", "")) if part)
    box = QMessageBox(QMessageBox.Warning, "Something went wrong",
                      f"Tailor ran into a problem it did not expect while {doing}.", parent=parent)
    box.setInformativeText("Nothing you made is lost. Try again; if it happens again, press Show Details, copy "
                           "what it says, and send it to us.")
    box.setDetailedText(event.get("details") or event.get("message", ""))
    box.open()  # not modal to the whole app: a run's progress goes on behind it
    return f"Something went wrong while {doing}; the message that opened says more."


def failure_words(lead: str, event: dict, parent: QWidget, doing: str) -> str:
    """"Could not score: the reason", without saying "Could not" twice when the reason begins with it."""
    words = problem_words(event, parent, doing)
    return words if words.lower().startswith(("could not", "cannot", "can't", "something went wrong")) else \
        f"{lead}: {words}"
