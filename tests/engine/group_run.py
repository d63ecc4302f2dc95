"""One training run on the demo model, alone or as one process of a group that `mlx.launch` started: the test of
training together runs it both ways and compares. Run: python tests/engine/group_run.py DATA OUT [ITERS]."""

import json
import sys
from pathlib import Path

import mlx.core as mx

from macapp.engine.train import training
from tests.helpers import train_settings


def main() -> None:
    data, out, iters = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 8
    events = []
    settings = train_settings(data, iters=iters, batch_size=4, steps_per_report=1, steps_per_eval=iters,
                              save_every=4)
    result = training.train(settings, out / "adapters", events.append, checkpoint_dir=out / "checkpoints")
    rank = mx.distributed.init().rank()
    (out / f"rank{rank}.json").write_text(json.dumps({"result": result, "events": events}))


if __name__ == "__main__":
    main()
