"""The events a worker writes, one JSON object per line to its stream and its folder's events.jsonl.

Every event has `type` (one of the names below), `kind` (the job kind that wrote it) and `time` (epoch seconds).
"""

STARTED = "started"  # pid: a worker began the job (a resumed run has one per session)
LOG = "log"  # message; level "warning" for what a person should read
PROGRESS = "progress"  # done, total; stage or step; eta_seconds; message
PLAN = "plan"  # predicted_bytes, limit_bytes, status ("ok", "tight", "too_big"), suggestion: memory before training
TRAIN = "train"  # iteration, total, train_loss, learning_rate, iterations_per_second, tokens_per_second, ...
VAL = "val"  # iteration, total, val_loss, val_time
MEMORY = "memory"  # iteration, active_gb, peak_gb, rss_gb; processes: each one's and its speed, in a group
BEST = "best"  # iteration, val_loss, path: the best adapter so far was saved
CHECKPOINT = "checkpoint"  # iteration, path: enough saved to resume from this step
TOKEN = "token"  # side, text, finish: a piece of a streamed answer
READY = "ready"  # url, name, and example requests: the local server answers
STOPPING = "stopping"  # the worker heard the stop: it ends the step, saves and says `done` (stopped)
DONE = "done"  # result (the job's own dict), stopped
ERROR = "error"  # category (input, training, memory, disk, failure, killed, refused), message; fix, problems, details
REFUSED = "refused"  # the category of an error from a worker that would not begin (its pid given): not a session

ENDS = (DONE, ERROR)  # the last event of a job

# What the run's reducer reads from each event, and of what type: a line of events.jsonl that does not hold them is
# not a whole event (damaged on disk) and is passed over.
WHOLE = {
    STARTED: {"pid": int}, TRAIN: {"iteration": int, "total": int, "train_loss": float},
    VAL: {"iteration": int, "val_loss": float}, BEST: {"iteration": int, "val_loss": float},
    MEMORY: {"iteration": int, "active_gb": float, "peak_gb": float, "rss_gb": float},
    PLAN: {}, LOG: {}, PROGRESS: {}, CHECKPOINT: {}, STOPPING: {}, DONE: {}, ERROR: {},
}
OPTIONAL = {"time": float, "message": str, "level": str, "tokens_per_second": float, "result": dict,
            "predicted_bytes": float, "limit_bytes": float, "kind": str, "category": str, "processes": list}


def _holds(value, kind) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind) and not isinstance(value, bool) and not (kind is int and value < 0)


def whole(event) -> bool:
    """True when an event read back from disk has the fields of its type, each of the right type."""
    if not isinstance(event, dict) or not isinstance(event.get("type"), str) or event["type"] not in WHOLE:
        return False
    needed = WHOLE[event["type"]]
    return (all(_holds(event.get(name), kind) for name, kind in needed.items())
            and all(event.get(name) is None or _holds(event[name], kind) for name, kind in OPTIONAL.items()))
