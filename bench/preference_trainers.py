"""Teaching by choosing: Tailor's DPO and ORPO against mlx-lm-lora's, on the same model, pairs and settings.

Run: make bench-peers; OPENBLAS_NUM_THREADS=1 .venv/bin/python -m macapp.engine.check.blas \
bench/preference_trainers.py [--seeds 2] [--models demo,llama3] [--methods dpo,orpo] [--save FILE]
Each run is a process of its own: Tailor's `training.train` with train_mode dpo or orpo, or mlx-lm-lora 5.10.2's
`mlx_lm_lora.train.run` (bench/peers/mlx_lm_lora_preference.py, in its venv), the two interleaved, once per seed.
A step's batch is every training pair (the batch size is their number), so both trainers train on the same batch at
every step and their losses can be compared step by step; the script first checks that both make the same tokens
and prompt lengths of every pair. Prints per model, method and trainer: the whole run's wall time (process start to
exit), the time from loading the model to the adapter saved, the median step, MLX's peak memory over the whole
process, and the training loss at step 1, 2 and the last; then the ratios against the goals (wall time peer/Tailor
>= 1.3, peak memory Tailor/peer <= 0.8, step losses within 1%).
"""

import argparse
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from peer_trainers import launch

BENCH = Path(__file__).resolve().parent
RESULT = re.compile(r"^(?:PEER|TAILOR)_RESULT (.*)$", re.MULTILINE)
PEER_VENV = BENCH / ".venvs" / "mlx_lm_lora"
PEER = "mlx-lm-lora"
# Per model: training pairs (= the batch), steps. Llama 3's vocabulary makes a step ~20x the demo's on this CPU.
MODELS = {"demo": (16, 8), "llama3": (4, 3)}
BETA, RANK, SCALE, LEARNING_RATE, MAX_LENGTH = 0.1, 8, 20.0, 1e-5, 512


def tailor_child(spec: dict) -> None:
    """One Tailor run in this process (`--tailor-run SPEC`): its report's train and memory events, and MLX's peak
    over the whole process (Tailor resets the peak before its first step, after the reference's scoring)."""
    # As Tailor's training worker does (macapp/worker.py): transformers would import PyTorch, installed in .venv for
    # the GGUF converter only: seconds of start-up that no training uses.
    sys.modules.setdefault("torch", None)
    import mlx.core as mx

    from macapp.engine.train import training
    from macapp.engine.train.config import TrainConfig

    before = [0]
    reset = mx.reset_peak_memory

    def kept_reset():
        before[0] = max(before[0], mx.get_peak_memory())
        reset()

    mx.reset_peak_memory = kept_reset
    events = []
    config = TrainConfig(model=spec["model"], data=spec["data"], train_mode=spec["method"], beta=BETA,
                         seed=spec["seed"], num_layers=-1, batch_size=spec["batch"], iters=spec["iters"],
                         learning_rate=LEARNING_RATE, steps_per_report=1, steps_per_eval=spec["iters"] + 1,
                         save_every=spec["iters"] + 1, max_seq_length=MAX_LENGTH,
                         lora_parameters={"rank": RANK, "dropout": 0.0, "scale": SCALE})
    started = time.perf_counter()
    summary = training.train(config, spec["adapter"], events.append)
    seconds = time.perf_counter() - started
    reports = [e for e in events if e["type"] == "train"]
    own_peak = max(e["peak_gb"] for e in events if e["type"] == "memory") * 1e9
    result = {"train_seconds": seconds, "loop_seconds": summary["seconds"], "reports": reports,
              "peak_bytes": max(before[0], mx.get_peak_memory()), "own_peak_bytes": own_peak}
    print("TAILOR_RESULT " + json.dumps(result), flush=True)


def run_tailor(model: Path, data: Path, adapter: Path, method: str, seed: int, batch: int, iters: int) -> dict:
    spec = {"model": str(model), "data": str(data), "adapter": str(adapter), "method": method, "seed": seed,
            "batch": batch, "iters": iters}
    return launch([sys.executable, __file__, "--tailor-run", json.dumps(spec)], pattern=RESULT)


def run_peer(model: Path, data: Path, adapter: Path, method: str, seed: int, batch: int, iters: int) -> dict:
    from macapp.engine.check import blas

    command = [str(PEER_VENV / "bin" / "python"), "-m", "peers.mlx_lm_lora_preference", "--model", str(model),
               "--data", str(data), "--adapter-path", str(adapter), "--train-mode", method, "--beta", str(BETA),
               "--iters", str(iters), "--batch-size", str(batch), "--learning-rate", str(LEARNING_RATE),
               "--seed", str(seed), "--max-seq-length", str(MAX_LENGTH), "--num-layers", "-1", "--rank", str(RANK),
               "--scale", str(SCALE), "--steps-per-report", "1"]
    # The same OpenBLAS preload as Tailor's: MLX's own BLAS would make the peer ~50x slower.
    return launch(command, blas.environment({**os.environ, "PYTHONPATH": str(BENCH)}), RESULT)


def build_llama3(folder: Path) -> Path:
    """tests/families.py's tiny Llama 3.2 (2 layers, hidden 64, its real tokenizer, chat template and vocabulary of
    128,256), in float32: bf16 matmuls have no BLAS path on MLX's CPU backend."""
    import mlx.core as mx

    sys.path.insert(0, str(BENCH.parent))
    from tests import families

    if missing := families.missing_sources():
        raise SystemExit(f"{len(missing)} tokenizer files missing from {families.SOURCES}: run `make test` once")
    source = families.build("llama3", folder / "families")
    target = folder / "llama3-f32"
    target.mkdir()
    for file in source.iterdir():
        if file.suffix != ".safetensors":
            (target / file.name).write_bytes(file.read_bytes())
    weights = {name: value.astype(mx.float32) for name, value in mx.load(str(source / "model.safetensors")).items()}
    mx.save_safetensors(str(target / "model.safetensors"), weights)
    config = json.loads((source / "config.json").read_text())
    (target / "config.json").write_text(json.dumps({**config, "torch_dtype": "float32"}, indent=2))
    return target


def write_pairs(folder: Path, count: int) -> Path:
    """train.jsonl: the first `count` of the demo's 340 preference pairs (no valid.jsonl: neither validates)."""
    from macapp.engine.models import demo

    folder.mkdir(parents=True)
    with open(folder / "train.jsonl", "w") as handle:
        for pair in demo.preference_pairs()[:count]:
            handle.write(json.dumps(pair) + "\n")
    return folder


def same_tokens(model: Path, data: Path, peer_pairs: list) -> bool:
    """Whether Tailor's pairs (tokens and prompt length of each side) are the peer's, pair by pair."""
    from macapp.engine.data import datasets
    from macapp.engine.models import loading
    from macapp.engine.train.batches import tokenize_pairs

    ours = tokenize_pairs(datasets.load_split(data, "train"), loading.load_tokenizer(model))
    return [[list(c), co, list(r), ro] for (c, co), (r, ro) in ours] == peer_pairs


def losses(result: dict) -> list[float]:
    return [report["train_loss"] for report in sorted(result["reports"], key=lambda r: r["iteration"])]


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def step_seconds(runs: list[dict]) -> float:
    """The median step after the first (which compiles), over every run: 1 / each report's iterations a second."""
    return statistics.median(1 / report["iterations_per_second"] for run in runs for report in run["reports"]
                             if report["iteration"] > 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2, help="runs of each trainer per model and method (default 2)")
    parser.add_argument("--models", default="demo,llama3", help="comma-separated, of: " + ", ".join(MODELS))
    parser.add_argument("--methods", default="dpo,orpo", help="comma-separated, of: dpo, orpo")
    parser.add_argument("--save", type=Path, help="also write every run's result (JSON) to this file")
    parser.add_argument("--tailor-run", help=argparse.SUPPRESS)  # one Tailor run, in a process of its own
    args = parser.parse_args()
    if args.tailor_run:
        return tailor_child(json.loads(args.tailor_run))
    if not (PEER_VENV / ".installed").exists():
        parser.error("no venv for mlx-lm-lora: run `make bench-peers` first")
    chosen, methods = args.models.split(","), args.methods.split(",")
    if unknown := [m for m in chosen if m not in MODELS] + [m for m in methods if m not in ("dpo", "orpo")]:
        parser.error(f"unknown: {', '.join(unknown)}")

    from macapp.engine.models import demo_build

    print(f"DPO and ORPO: Tailor against {PEER} 5.10.2. LoRA rank {RANK}, scale {SCALE:g}, all layers, Adam "
          f"{LEARNING_RATE:g}, beta {BETA}, max length {MAX_LENGTH}; batch = every training pair (the same batch at "
          f"every step for both), one report a step, no validation; {args.seeds} seed(s), the trainers interleaved.")
    print("wall: process start to exit; load→saved: the trainer's own span from loading the model to the adapter "
          "written (Tailor: training.train; peer: mlx_lm_lora.train.run, its second model included); step: the median "
          "step after the first, from each trainer's reports; peak: MLX's "
          "peak memory over the whole process (Tailor's own, from its first step, in brackets); medians over seeds.\n")
    verdicts, saved = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        paths = {"demo": demo_build.ensure_model()}
        if "llama3" in chosen:
            paths["llama3"] = build_llama3(scratch)
        header = (f"{'model':8}{'method':7}{'trainer':13}{'wall s':>8}{'load→saved s':>14}{'peak MB':>18}"
                  f"{'step s':>8}{'loss 1':>9}{'loss 2':>9}{'last loss':>10}")
        print(header)
        for name in chosen:
            pairs, iters = MODELS[name]
            data = write_pairs(scratch / f"data-{name}", pairs)
            for method in methods:
                results = {PEER: [], "Tailor": []}
                for seed in range(args.seeds):
                    order = [PEER, "Tailor"] if seed % 2 == 0 else ["Tailor", PEER]
                    for who in order:
                        adapter = scratch / f"adapter-{name}-{method}-{seed}-{who}"
                        runner = run_peer if who == PEER else run_tailor
                        results[who].append(runner(paths[name], data, adapter, method, seed, pairs, iters))
                identical = same_tokens(paths[name], data, results[PEER][0]["pairs"])
                for who, runs in results.items():
                    wall, span, peak = (median(runs, key) for key in ("wall_seconds", "train_seconds", "peak_bytes"))
                    own = f" ({median(runs, 'own_peak_bytes') / 1e6:.0f})" if who == "Tailor" else ""
                    curve = losses(runs[0])
                    print(f"{name:8}{method:7}{who:13}{wall:>8.1f}{span:>14.1f}{f'{peak / 1e6:.0f}{own}':>18}"
                          f"{step_seconds(runs):>8.2f}{curve[0]:>9.4f}{curve[1]:>9.4f}{curve[-1]:>10.4f}")
                wall_ratio, span_ratio = (median(results[PEER], key) / median(results["Tailor"], key)
                                          for key in ("wall_seconds", "train_seconds"))
                step_ratio = step_seconds(results[PEER]) / step_seconds(results["Tailor"])
                memory_ratio = median(results["Tailor"], "peak_bytes") / median(results[PEER], "peak_bytes")
                # the largest relative difference of a step's loss, over every step of every seed
                gap = max(abs(ours / theirs - 1) for mine, peers in zip(results["Tailor"], results[PEER])
                          for ours, theirs in zip(losses(mine), losses(peers)))
                first = [abs(losses(r)[0] - math.log(2)) for r in results["Tailor"] + results[PEER]]
                print(f"{name:8}{method:7}{'ratios':13}wall peer/Tailor {wall_ratio:.2f}× (load→saved "
                      f"{span_ratio:.2f}×, a step {step_ratio:.2f}×), peak Tailor/peer {memory_ratio:.2f}×, "
                      f"step losses within {gap:.3%}, same tokens: {'yes' if identical else 'NO'}"
                      + (f", step 1 - ln 2 at most {max(first):.1e}" if method == "dpo" else ""))
                verdicts.append((name, method, wall_ratio, step_ratio, memory_ratio, gap, identical))
                saved[f"{name} {method}"] = {who: [{k: v for k, v in r.items() if k != "pairs"} for r in runs]
                                             for who, runs in results.items()}
    if args.save:
        args.save.write_text(json.dumps(saved))
    print()
    for name, method, wall_ratio, step_ratio, memory_ratio, gap, identical in verdicts:
        print(f"{name} {method}: wall ≥ 1.3× {'met' if wall_ratio >= 1.3 else 'NOT met'} "
              f"({wall_ratio:.2f}×; a step {step_ratio:.2f}×), "
              f"peak ≤ 0.8× {'met' if memory_ratio <= 0.8 else 'NOT met'} ({memory_ratio:.2f}×), losses within 1% "
              f"{'met' if gap <= 0.01 and identical else 'NOT met'} ({gap:.3%})")


if __name__ == "__main__":
    main()
