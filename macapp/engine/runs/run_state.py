"""What a training run is doing, worked out from its events by one reducer: phase, step, losses, best, speed,
time left, memory and the sentence that says how it ended.

`RunState().apply(event)` for each event of a run, in order. The Train step, the menu-bar item, Past runs,
`tailor runs` and the terminal's progress bar all read a RunState; nothing else interprets a run's events.
"""

from dataclasses import dataclass, field

from . import events as ev

LIVE = ("preparing", "training")  # phases of a run whose worker is (or should be) going
MEMORY_MARGIN = 1.10  # the memory prediction's own error is within about 10%: beyond it counts as over


def clock(seconds: float) -> str:
    """0:41, 12:05 or 1:02:03."""
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def duration_words(seconds: float) -> str:
    """How long, as a person says it: under a minute, about 12 minutes, about 2.5 hours."""
    minutes = round(seconds / 60)
    if not minutes:
        return "under a minute"
    if minutes < 90:
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    return f"about {seconds / 3600:.1f} hours"


@dataclass
class RunState:
    """A run as its events so far tell it. `phase` is created, preparing, training, finished, stopped, failed,
    or interrupted (set by `settle` when the worker is gone without a last word); a run folder that cannot be read
    at all is "damaged", with what is wrong as its `message`."""

    phase: str = "created"
    kind: str = "train"  # the job kind whose events make the state
    pid: int | None = None
    stopping: bool = False  # the worker heard a stop and is saving
    message: str = ""  # what the worker is doing before the first step: "Loading Llama-3.2-1B"
    step: int | None = None
    total: int | None = None
    loss: float | None = None
    tokens_per_second: float | None = None
    val_loss: float | None = None  # the latest
    best: tuple[int, float] | None = None  # (step, validation loss) of the best adapter kept
    predicted_bytes: int | None = None
    limit_bytes: int | None = None
    peak_bytes: float | None = None
    started_at: float | None = None  # this session's start, epoch seconds
    latest_at: float | None = None
    first: tuple | None = None  # (step, time) of this session's first report, for the time left
    result: dict | None = None  # the `done` event's result
    error: dict | None = None  # the `error` event
    warnings: list[str] = field(default_factory=list)
    sessions: int = 0
    # the curves, one (step, value...) tuple per report; `revision` grows when a resume rewrites them
    train_points: list[tuple] = field(default_factory=list)
    val_points: list[tuple] = field(default_factory=list)
    memory_points: list[tuple] = field(default_factory=list)  # (step, active GB, peak GB, process GB)
    # a run taught by choosing: (step, share of its training pairs, and of its held-out ones, preferred rightly)
    choice_points: list[tuple] = field(default_factory=list)
    val_choice_points: list[tuple] = field(default_factory=list)
    macs: list[str] = field(default_factory=list)  # the Macs (or processes) training together, in their order
    macs_memory_points: list[tuple] = field(default_factory=list)  # (step, each one's peak GB, in their order)
    macs_speed_points: list[tuple] = field(default_factory=list)  # (step, each one's tokens per second)
    revision: int = 0

    @classmethod
    def replay(cls, events, kind: str = "train") -> "RunState":
        """The state after `events`; `kind` names whose events count (a data-making folder's are "synth")."""
        state = cls(kind=kind)
        for event in events:
            state.apply(event)
        return state

    def apply(self, event: dict) -> "RunState":
        """Take one event; events of other jobs in the run folder (answers, scores, exports), a refused worker's
        (it began no session of the run) and a damaged line that still reads as an event are left alone."""
        if event.get("kind", "train") != self.kind or event.get("category") == ev.REFUSED or not ev.whole(event):
            return self
        kind = event.get("type")
        self.latest_at = event.get("time", self.latest_at)
        if kind == ev.STARTED:
            self._start(event)
        elif kind in (ev.LOG, ev.PROGRESS):
            if event.get("level") == "warning":
                self.warnings.append(event["message"])
            elif event.get("message") and self.step is None:
                self.message = event["message"]
        elif kind == ev.PLAN:
            self.predicted_bytes, self.limit_bytes = event.get("predicted_bytes"), event.get("limit_bytes")
        elif kind == ev.TRAIN:
            self._train(event)
        elif kind == ev.VAL:
            self.val_loss = event["val_loss"]
            self._add(self.val_points, (event["iteration"], event["val_loss"]))
            if "val_preference_accuracy" in event:
                self._add(self.val_choice_points, (event["iteration"], event["val_preference_accuracy"]))
            if self.best is None or event["val_loss"] < self.best[1]:
                self.best = (event["iteration"], event["val_loss"])
        elif kind == ev.BEST:
            self.best = (event["iteration"], event["val_loss"])
        elif kind == ev.STOPPING:
            self.stopping = True
        elif kind == ev.MEMORY:
            self.peak_bytes = event["peak_gb"] * 1e9
            self._add(self.memory_points, (event["iteration"], event["active_gb"], event["peak_gb"], event["rss_gb"]))
            if together := event.get("processes"):
                self.macs = [p.get("name", f"process {i + 1}") for i, p in enumerate(together)]
                self.macs_memory_points.append((event["iteration"], *(p["peak_gb"] for p in together)))
                self.macs_speed_points.append((event["iteration"], *(p.get("tokens_per_second", 0) for p in together)))
        elif kind == ev.DONE:
            self.result = event.get("result") or {}
            self.phase = "stopped" if self.result.get("stopped") else "finished"
            self.step = self.result.get("iterations", self.step)
        elif kind == ev.ERROR:
            self.error, self.phase = event, "failed"
        return self

    def _start(self, event: dict) -> None:
        self.phase, self.pid, self.sessions, self.stopping = "preparing", event.get("pid"), self.sessions + 1, False
        self.started_at, self.first = event.get("time"), None  # an earlier session's speed does not count
        self.result = self.error = None
        self.message = "Preparing the run"

    def _train(self, event: dict) -> None:
        self.phase = "training"
        self.step, self.total, self.loss = event["iteration"], event["total"], event["train_loss"]
        self.tokens_per_second = event.get("tokens_per_second")
        if self.first is None or self.step <= self.first[0]:
            self.first = (self.step, event.get("time"))
        self._add(self.train_points, (self.step, self.loss, self.tokens_per_second))
        if "preference_accuracy" in event:
            self._add(self.choice_points, (self.step, event["preference_accuracy"]))

    def _add(self, points: list, point: tuple) -> None:
        """Append a report; a resumed session repeats the steps after its checkpoint, which replace the old ones."""
        if points and points[-1][0] >= point[0]:
            for series in (self.train_points, self.val_points, self.memory_points, self.macs_memory_points,
                           self.macs_speed_points, self.choice_points, self.val_choice_points):
                series[:] = [p for p in series if p[0] < point[0]]
            self.revision += 1
        points.append(point)

    def settle(self, worker_alive: bool) -> "RunState":
        """A run whose worker has gone without a last word was interrupted (killed, or the Mac restarted)."""
        if self.phase in LIVE and not worker_alive:
            self.phase = "interrupted"
        return self

    # what the views read

    @property
    def live(self) -> bool:
        return self.phase in LIVE

    @property
    def progress(self) -> float:
        return self.step / self.total if self.step and self.total else 0.0

    @property
    def best_val_loss(self) -> float | None:
        return self.best[1] if self.best else None

    def seconds_left(self) -> float | None:
        """From this session's pace so far; None until two reports of it are in."""
        if not self.first or self.first[1] is None or self.latest_at is None or self.step <= self.first[0]:
            return None
        return (self.latest_at - self.first[1]) / (self.step - self.first[0]) * (self.total - self.step)

    def memory_over(self) -> tuple[float, float] | None:
        """(used, predicted) bytes when the peak went beyond the prediction and its own error, else None."""
        if self.predicted_bytes and self.peak_bytes and self.peak_bytes > self.predicted_bytes * MEMORY_MARGIN:
            return self.peak_bytes, self.predicted_bytes
        return None

    def best_words(self) -> str:
        return f"best validation loss {self.best[1]:.3f} at step {self.best[0]}" if self.best else ""

    def together_words(self) -> str:
        """" · on this Mac and mini.local" while several train together; else nothing."""
        if len(self.macs) < 2:
            return ""
        return f" \u00b7 on {', '.join(self.macs[:-1])} and {self.macs[-1]}"

    def outcome(self) -> str:
        """One sentence on where the run is, for the Train step, the menu bar and the terminal."""
        best = f"; {self.best_words()}" if self.best else ""
        if self.phase == "finished":
            seconds = (self.result or {}).get("seconds")
            took = f" in {clock(seconds)}" if seconds is not None else ""
            return f"Finished {self.step} steps{took}{best}."
        if self.phase == "stopped":
            return f"Stopped at step {self.step} of {self.total or self.step}{best}."
        if self.phase == "interrupted":
            where = f" at step {self.step}" if self.step else ""
            return f"Interrupted{where}: the training process ended without finishing{best}."
        if self.phase == "failed":
            return f"Failed: {(self.error or {}).get('message', 'the run ended unexpectedly')}"
        if self.phase == "training":
            left = self.seconds_left()
            return (f"Step {self.step} of {self.total} \u00b7 loss {self.loss:.3f}"
                    + (f" \u00b7 about {clock(left)} left" if left is not None else "") + self.together_words())
        if self.phase == "preparing":
            return f"{self.message}\u2026"
        if self.phase == "damaged":
            return f"This run's folder is damaged: {self.message}."
        return "Not started yet."
