"""Scoring held-out prompts with both models: answers made in batches against today's one prompt at a time and against
`mlx_lm generate` called per prompt, and the wall time of a whole judged verdict with `mlx_lm server` as the judge.

Run: .venv/bin/python -m macapp.engine.check.blas bench/scoring_speed.py [--prompts 40] [--rounds 3]
The demo is trained first in a fresh data home (`tailor demo`); every way answers the same held-out comments with
greedy decoding and the same token limit, interleaved round by round; the medians and their ratios are printed.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["TAILOR_HOME"] = tempfile.mkdtemp(prefix="tailor-bench-scoring-")

from macapp.engine.evaluate import evaluation  # noqa: E402
from macapp.engine.evaluate.generation import SIDES, TunedModel, user  # noqa: E402
from macapp.engine.evaluate.judge_choice import Judge  # noqa: E402
from macapp.engine.evaluate.sampling import Sampling  # noqa: E402
from macapp.engine.models import demo, demo_build  # noqa: E402
from macapp.engine.runs import runs  # noqa: E402


def demo_run() -> Path:
    subprocess.run([sys.executable, "-m", "macapp", "demo"], check=True, capture_output=True)
    (run,) = [r for r in runs.list_runs() if r["id"].endswith("-demo")]
    return Path(run["path"])


def one_by_one(tuned: TunedModel, prompts: list[str], sampling: Sampling) -> float:
    """Today's path before batching: each prompt answered alone, the base's answers first, then the tuned's."""
    started = time.perf_counter()
    for side in SIDES:
        for prompt in prompts:
            tuned.answer(side, user(prompt), sampling)
    return time.perf_counter() - started


def batched(tuned: TunedModel, prompts: list[str], sampling: Sampling) -> float:
    started = time.perf_counter()
    for side in SIDES:
        tuned.answer_all(side, [user(p) for p in prompts], sampling)
    return time.perf_counter() - started


def mlx_lm_per_prompt(model: Path, adapter: Path, prompts: list[str], max_tokens: int) -> float:
    """`mlx_lm generate` once per prompt and side, as a person scripting mlx-lm's own command would."""
    started = time.perf_counter()
    for extra in ([], ["--adapter-path", str(adapter)]):
        for prompt in prompts:
            subprocess.run([sys.executable, "-m", "mlx_lm", "generate", "--model", str(model), "--prompt", prompt,
                            "--max-tokens", str(max_tokens), "--temp", "0", *extra], check=True, capture_output=True)
    return time.perf_counter() - started


def judged_verdict(run_dir: Path, model: Path, count: int, sampling: Sampling) -> float:
    """A whole verdict: both models' answers, then `mlx_lm server` on the demo model judging every pair twice."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "mlx_lm", "server", "--model", str(model), "--host", "127.0.0.1",
                               "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        for line in server.stderr:
            if "Starting httpd" in line:
                break
        for name in ("report.json", "judgements.jsonl"):
            (run_dir / name).unlink(missing_ok=True)
        started = time.perf_counter()
        evaluation.evaluate_run(run_dir, demo.HELD_OUT, sampling=sampling, limit=count,
                                judge=Judge(endpoint=f"http://127.0.0.1:{port}/v1"))
        return time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()
    model = demo_build.ensure_model()
    run_dir = demo_run()
    model_name, adapter = runs.model_and_adapter(run_dir)
    prompts = demo.held_out_comments()[:args.prompts]
    sampling = Sampling(max_tokens=args.max_tokens)
    tuned = TunedModel(model_name, adapter)
    batched(tuned, prompts[:4], sampling)  # compile and warm both paths once
    one_by_one(tuned, prompts[:2], sampling)
    times = {"one by one": [], "batched": [], "mlx_lm generate": []}
    for _ in range(args.rounds):
        times["one by one"].append(one_by_one(tuned, prompts, sampling))
        times["batched"].append(batched(tuned, prompts, sampling))
        times["mlx_lm generate"].append(mlx_lm_per_prompt(model, adapter, prompts, args.max_tokens))
    medians = {way: statistics.median(seconds) for way, seconds in times.items()}
    print(f"{len(prompts)} held-out prompts, both models, greedy, at most {args.max_tokens} tokens; "
          f"median of {args.rounds} interleaved rounds")
    for way, seconds in medians.items():
        print(f"  {way:18} {seconds:7.1f} s   batched is {seconds / medians['batched']:.1f}x faster")
    verdict = judged_verdict(run_dir, model, args.prompts, sampling)
    print(f"A whole judged verdict ({args.prompts} prompts, answers and judging, mlx_lm server on the demo model as "
          f"the judge): {verdict:.1f} s")


if __name__ == "__main__":
    main()
