"""`tailor demo`: the whole path on the built-in demo, from the machine check to a fused model.

Each heavy step runs in a worker process, as in the app; the before/after figure is printed at the end.
"""

import json
import sys
from pathlib import Path

from .. import exitcodes, jobs
from ..engine.models import demo
from ..engine.runs import runs
from .check import cmd_check
from .evaluate import evaluate_job, print_summary
from .running import run_job
from .train import prepare_run, train_in_worker


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_demo(iters: int = 200) -> int:
    _say("Tailor demo: teach a tiny model to answer video comments briefly, signed "
         f"{demo.SIGNATURE!r}.\n\n1/5 Check this machine")
    cmd_check(None)
    _say("\n2/5 Make the run: the demo data, to be checked and split")
    values = {**demo.train_settings(demo.REPLIES), "iters": iters}
    run_dir, settings = prepare_run("demo", values, ratios=(0.9, 0.1, 0.0))  # it keeps comments of its own to test
    _say(f"  {demo.REPLIES.name}: run folder {run_dir}")
    _say(f"\n3/5 Fine-tune with LoRA for {settings.iters} steps")
    code, trained = train_in_worker(run_dir)
    if code != exitcodes.DONE:
        return code
    comments = demo.held_out_comments()
    _say(f"\n4/5 Score the base and the tuned model on {len(comments)} held-out comments")
    code, scored = run_job(evaluate_job(run_dir, demo.eval_settings()), "Scoring")
    if code != exitcodes.DONE:
        return code
    _say("\n5/5 Fuse the adapter into the model")
    model, adapter = runs.model_and_adapter(run_dir)
    code, fused = run_job(jobs.FuseJob(run=str(run_dir), model=model, adapter=str(adapter),
                                       out=str(run_dir / "exports" / "fused"), overwrite=True), "Fusing")
    if code != exitcodes.DONE:
        return code
    example = json.loads(Path(scored["report"]["json"]).read_text(encoding="utf-8"))["items"][0]
    print(f"\nComment: {example['prompt']}")
    print(f"  base:  {example['base']['answer']}")
    print(f"  tuned: {example['tuned']['answer']}")
    print(f"\nOn {len(comments)} held-out comments:")
    print_summary(scored["summary"], scored["check"])
    print(f"\nTrained {trained['iterations']} steps in {trained['seconds']:.0f} s; "
          f"best validation loss {trained['best_val_loss']:.3f}.")
    print(f"Adapter: {trained['adapter_path']}\nReport: {scored['report']['html']}\nFused model: {fused['path']}")
    return exitcodes.DONE


def cmd_demo(args) -> int:
    return run_demo(args.iters)


def add_demo_command(sub) -> None:
    command = sub.add_parser("demo", help="the whole path on the built-in demo model and data")
    command.add_argument("--iters", type=int, default=200)
    command.set_defaults(func=cmd_demo)
