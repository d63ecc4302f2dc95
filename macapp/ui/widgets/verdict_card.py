"""The verdict at the top of the Test step: better, worse or too few questions to tell, in plain words and colour,
with how sure it is, how often the judge agrees with the person's own picks, and what to try.

It only shows a `verdict.Card`; the card is built from the run's report and picks by the engine's plain verdict module.
"""

from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout

from ...engine.evaluate import verdict

COLOURS = {"better": ("#1f8a3b", "#eef8f0"), "worse": ("#c62828", "#fdf0f0"), "unclear": ("#b07400", "#fdf7ea"),
           "same": ("#b07400", "#fdf7ea"), "unread": ("#b07400", "#fdf7ea"), "none": ("#8a8f98", "#f5f5f7")}


class VerdictCard(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("verdict")
        self.headline = QLabel(wordWrap=True)
        self.details = QLabel(wordWrap=True)
        self.tips = QLabel(wordWrap=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(4)
        for label in (self.headline, self.details, self.tips):
            layout.addWidget(label)
        self.card: verdict.Card | None = None

    def show_card(self, card: verdict.Card) -> None:
        self.card = card
        line, fill = COLOURS[card.call]
        self.setStyleSheet(f"QFrame#verdict {{ background: {fill}; border-left: 5px solid {line}; "
                           "border-radius: 6px; } QLabel { background: transparent; }")
        self.headline.setText(card.headline)
        self.headline.setStyleSheet(f"font-size: 15px; font-weight: 600; color: {line};")
        self.details.setText(" ".join(card.lines) + (f"\n\n{card.general}" if card.general else ""))
        self.tips.setText("What to try: " + " ".join(card.tips) if card.tips else "")
        self.tips.setVisible(bool(card.tips))
