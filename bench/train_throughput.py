"""Training throughput: `tailor train` against `mlx_lm lora` and the other MLX trainers; memory on a large vocabulary.

Run: make bench-peers; .venv/bin/python -m macapp.engine.check.blas bench/train_throughput.py [--iters 30] [--seeds 5]
[--trainers mlx_lm,tailor,mlx-lm-lora,mlx-tune,unsloth-zoo] [--no-memory | --memory]
Part 1, on the demo model and two datasets (answers of mixed lengths, of equal length), each trainer once per seed,
interleaved: whole-run wall time, training tokens/s and MFU (median over seeds), validation loss on 64 held-out rows
scored by one evaluator (mean ± std over seeds). Part 2: MLX's peak memory and final loss of Tailor and mlx_lm lora
on a model with Llama 3's vocabulary of 128,256, where the logits dominate.
"""

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import flops
import memory_prediction
import mlx.core as mx
import peer_trainers

from macapp.engine.models import demo, demo_build, loading, models
from macapp.engine.runs import runs

# mlx-lm's own `lora` command, unchanged, observed: a callback records its reports, train_model is timed, and MLX's
# peak memory, the reports and the training seconds are printed as one line when it exits.
MLX_LM_LORA = """
import atexit, json, sys, time, mlx.core as mx
import mlx_lm.lora as lora
from mlx_lm.tuner.callbacks import TrainingCallback
result = {"reports": []}
class Record(TrainingCallback):
    def on_train_loss_report(self, info):
        result["reports"].append(info)
lora.get_reporting_callbacks = lambda *args, **kwargs: Record()
train_model = lora.train_model
def timed(*args, **kwargs):
    started = time.perf_counter()
    train_model(*args, **kwargs)
    result["train_seconds"] = time.perf_counter() - started
lora.train_model = timed
atexit.register(lambda: print("MLX_LM_RESULT " + json.dumps({**result, "peak_bytes": mx.get_peak_memory()})))
sys.argv[0] = "mlx_lm.lora"
lora.main()
"""
LABELS = {"mlx_lm": "mlx_lm lora", "tailor": "Tailor", **{name: name for name in peer_trainers.PEERS}}
BATCH, MAX_LENGTH = 8, 512


@dataclass
class Trained:
    wall_seconds: float  # process start to exit
    train_seconds: float  # the trainer's own clock around its training loop
    trained_tokens: int | None  # as the trainer counts them (the answer tokens it scores), None if it does not
    adapter: Path
    train_loss: float | None = None  # the last report's
    peak_gb: float | None = None  # MLX's peak memory
    val_loss: float | None = None  # the common evaluator's, on the held-out rows


def write_data(folder: Path, mixed: bool) -> tuple[Path, Path]:
    """A data folder (train.jsonl: 320 chats, valid.jsonl: 8) and a held-out file of 64 more from the same generator.
    Answers are 12-300 words (mixed) or all 150."""
    words = " ".join(m["content"] for row in demo.read_jsonl(demo.CORPUS) for m in row["messages"]).split()
    rng = random.Random(0)
    folder.mkdir(parents=True)
    held_out = folder.parent / f"{folder.name}-held-out.jsonl"
    for path, count in ((folder / "train.jsonl", 320), (folder / "valid.jsonl", 8), (held_out, 64)):
        with open(path, "w") as handle:
            for _ in range(count):
                answer = " ".join(rng.choices(words, k=rng.randint(12, 300) if mixed else 150))
                handle.write(json.dumps({"messages": [{"role": "user", "content": " ".join(rng.choices(words, k=8))},
                                                      {"role": "assistant", "content": answer}]}) + "\n")
    return folder, held_out


def run(command: list[str]) -> tuple[str, float]:
    """(stdout + stderr, seconds from process start to exit)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, _ = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"failed: {' '.join(command[:5])}\n{output[-3000:]}")
    return output, time.perf_counter() - started


def train_flags(iters: int, seed: int, batch: int = BATCH, max_length: int = MAX_LENGTH, report: int = 10) -> list[str]:
    """mlx_lm lora's flags, which `tailor train` takes too; validation once at each end, on one batch."""
    return ["--iters", str(iters), "--batch-size", str(batch), "--num-layers", "-1", "--learning-rate", "1e-4",
            "--seed", str(seed), "--steps-per-report", str(report), "--steps-per-eval", str(iters), "--val-batches",
            "1", "--save-every", str(iters * 10), "--max-seq-length", str(max_length)]


def mlx_lm(model: Path, data: Path, flags: list[str], adapter: Path) -> Trained:
    output, wall = run([sys.executable, "-c", MLX_LM_LORA, "--model", str(model), "--train", "--data", str(data),
                        "--adapter-path", str(adapter), *flags])
    result = json.loads(re.search(r"^MLX_LM_RESULT (.*)$", output, re.MULTILINE).group(1))
    last = result["reports"][-1]
    return Trained(wall, result["train_seconds"], last["trained_tokens"], adapter, last["train_loss"],
                   result["peak_bytes"] / 1e9)


def tailor(model: str, data: Path, flags: list[str], name: str) -> Trained:
    _, wall = run([sys.executable, "-m", "macapp", "train", "--model", model, "--data", str(data), "--name", name,
                   *flags])
    run_dir = Path(next(r["path"] for r in runs.list_runs() if r["id"].endswith(f"-{name}")))
    events = runs.read_events(run_dir)
    last = [e for e in events if e["type"] == "train"][-1]
    done = next(e for e in events if e["type"] == "done")
    return Trained(wall, done["result"]["seconds"], last.get("trained_tokens"), runs.adapter_path(run_dir),
                   last["train_loss"], max(e["peak_gb"] for e in events if e["type"] == "memory"))


def train(who: str, model: Path, data: Path, adapter: Path, iters: int, seed: int, name: str) -> Trained:
    """One training run of one trainer on the demo settings: LoRA rank 8, scale 20, all layers, prompt masked."""
    flags = [*train_flags(iters, seed), "--mask-prompt"]
    if who == "mlx_lm":
        return mlx_lm(model, data, flags, adapter)
    if who == "tailor":
        return tailor("demo", data, flags, name)
    result = peer_trainers.run(who, model, data, adapter, iters, seed, BATCH, MAX_LENGTH)
    return Trained(result["wall_seconds"], result["train_seconds"], result["trained_tokens"], adapter,
                   peak_gb=result["peak_mb"] / 1e3)


def adapter_size(adapter: Path) -> int:
    return sum(value.size for value in mx.load(str(adapter / "adapters.safetensors")).values())


def spread(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def speed_part(trainers: list[str], iters: int, seeds: int, folder: Path, stamp: str) -> None:
    peak = flops.matmul_peak(mx.float32)
    print(f"Matmul peak, float32, MLX on this machine: {peak / 1e9:.1f} GFLOP/s (best square matmul, 1024-4096)\n")
    print(f"Training: demo model (float32 Llama, vocab 800), {iters} steps, batch {BATCH}, LoRA rank 8 scale 20 all "
          f"layers, Adam 1e-4, max length {MAX_LENGTH}, prompt masked; {seeds} seed(s), each trainer once per seed.")
    print("wall: process start to exit, median over seeds; vs Tailor: that over Tailor's (Tailor is N× faster); "
          "tok/s: answer tokens trained / training seconds, median; val loss: 64 held-out rows, one evaluator, "
          "mean ± std over seeds.")
    model = demo_build.ensure_model()
    config = models.read_config(model)
    tokenizer = loading.load_tokenizer(model)
    print(f"{'data':7}{'trainer':13}{'wall s':>8}{'vs Tailor':>11}{'train s':>9}{'tok/s':>8}{'MFU':>7}"
          f"{'val loss':>20}")
    for kind in ("mixed", "equal"):
        data, held_out = write_data(folder / kind, kind == "mixed")
        shaped = peer_trainers.examples(demo.read_jsonl(data / "train.jsonl"), tokenizer, MAX_LENGTH)
        mean_context = statistics.mean(len(tokens) for tokens, _ in shaped)
        # The trainers count answer tokens (mlx-lm's: with the padding target after each); the FLOPs are over all.
        all_per_answer = sum(len(t) for t, _ in shaped) / sum(len(t) - offset + 1 for t, offset in shaped)
        results = {who: [] for who in trainers}
        for seed in range(seeds):
            for who in trainers:
                adapter = folder / f"adapters-{kind}-{seed}-{who}"
                trained = train(who, model, data, adapter, iters, seed, f"bench-{kind}-{seed}-{stamp}")
                trained.val_loss = peer_trainers.val_loss(model, held_out, trained.adapter, BATCH, MAX_LENGTH)
                results[who].append(trained)
        tailor_wall = statistics.median(o.wall_seconds for o in results["tailor"]) if "tailor" in results else None
        for who, trained in results.items():
            # a trainer that counts no tokens trained the same examples as mlx_lm lora did with the same seed
            counts = [one.trained_tokens or (results["mlx_lm"][seed].trained_tokens if "mlx_lm" in results else None)
                      for seed, one in enumerate(trained)]
            rates = [one.trained_tokens / one.train_seconds for one in trained if one.trained_tokens]
            mfus = [flops.training_flops(config, count * all_per_answer, mean_context, adapter_size(one.adapter))
                    / one.train_seconds / peak for one, count in zip(trained, counts) if count]
            wall = statistics.median(one.wall_seconds for one in trained)
            mean, std = spread([one.val_loss for one in trained])
            print(f"{kind:7}{LABELS[who]:13}{wall:>8.1f}{f'{wall / tailor_wall:.2f}×' if tailor_wall else '':>11}"
                  f"{statistics.median(one.train_seconds for one in trained):>9.1f}"
                  f"{f'{statistics.median(rates):.0f}' if rates else '—':>8}"
                  f"{f'{statistics.median(mfus):.1%}' if mfus else '—':>7}{f'{mean:.4f} ± {std:.4f}':>20}")
        if "mlx_lm" in results and "tailor" in results:
            (theirs, their_std), (ours, our_std) = (spread([o.val_loss for o in results[who]])
                                                    for who in ("mlx_lm", "tailor"))
            std = max(their_std, our_std)
            verdict = ("one seed: no std to compare with" if seeds == 1 else
                       f"{'within' if abs(ours - theirs) <= std else 'NOT within'} one std ({std:.4f})")
            print(f"{kind:7}val loss, Tailor - mlx_lm lora: {ours - theirs:+.4f}, {verdict}")
    print("MFU: model FLOPs (matmuls 2 per weight per token, output layer included, embedding not; attention over "
          "half the mean example length, causal; backward: the inputs' gradients only, attention's twice; 6 per LoRA "
          "weight) / training seconds / matmul peak. "
          "Tokens: each trainer's own count, scaled to prompts too; mlx-lm's count where a trainer gives none.")


def write_long_data(folder: Path, tokenizer, rows: int, length: int) -> Path:
    """train.jsonl: `rows` chats of exactly `length` tokens after the chat template; valid.jsonl: 8 short ones."""
    words = " ".join(m["content"] for row in demo.read_jsonl(demo.CORPUS) for m in row["messages"]).split()
    rng = random.Random(1)
    chat = lambda answer: {"messages": [{"role": "user", "content": "Say more."},  # noqa: E731
                                        {"role": "assistant", "content": " ".join(answer)}]}
    size = lambda answer: len(peer_trainers.examples([chat(answer)], tokenizer, 10**9)[0][0])  # noqa: E731
    folder.mkdir(parents=True)
    with open(folder / "train.jsonl", "w") as handle:
        for _ in range(rows):
            answer = rng.choices(words, k=length)  # a word is at least one token: too long
            low, high = 0, len(answer)  # the most words that fit, then single words that still fit
            while low < high:
                middle = (low + high + 1) // 2
                low, high = (middle, high) if size(answer[:middle]) <= length else (low, middle - 1)
            answer = answer[:low]
            for word in rng.sample(words, 200):
                if size(answer) == length:
                    break
                if size([*answer, word]) <= length:
                    answer.append(word)
            if size(answer) != length:
                raise RuntimeError(f"no chat of exactly {length} tokens found")
            handle.write(json.dumps(chat(answer)) + "\n")
    with open(folder / "valid.jsonl", "w") as handle:
        for _ in range(8):
            handle.write(json.dumps(chat(rng.choices(words, k=8))) + "\n")
    return folder


def memory_part(folder: Path, iters: int, batch: int, stamp: str) -> None:
    length = 1024
    print(f"\nMemory: Llama 3's vocabulary (128,256) on a 2-layer model of hidden size 128 (memory_prediction.py's "
          f"llama3), {iters} steps of batch {batch} × {length} tokens, LoRA all layers, no validation but one short "
          "batch.\nIn float32: bf16 matmuls have no BLAS path on MLX's CPU backend (one step of 8×1024 tokens takes "
          "~5 minutes in bf16, under 2 in float32).")
    model = memory_prediction.build(folder, "llama3-f32")
    data = write_long_data(folder / "long", loading.load_tokenizer(model), batch * iters, length)
    flags = train_flags(iters, 0, batch, length, report=1)
    theirs = mlx_lm(model, data, flags, folder / "long-adapters")
    ours = tailor(str(model), data, flags, f"bench-memory-{stamp}")
    print(f"{'trainer':13}{'MLX peak GB':>12}{'final train loss':>18}")
    for who, result in (("mlx_lm lora", theirs), ("Tailor", ours)):
        print(f"{who:13}{result.peak_gb:>12.2f}{result.train_loss:>18.4f}")
    memory, loss = ours.peak_gb / theirs.peak_gb, ours.train_loss / theirs.train_loss
    print(f"{'Tailor/mlx-lm':13}{memory:>12.2f}{loss:>18.4f}")
    print(f"target: peak memory ratio ≤ 0.5 ({'met' if memory <= 0.5 else 'NOT met'}), loss within 1% "
          f"({'met' if abs(loss - 1) <= 0.01 else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=30, help="training steps of each run (default 30)")
    parser.add_argument("--seeds", type=int, default=5, help="runs of each trainer on each dataset (default 5)")
    parser.add_argument("--trainers", default=",".join(["mlx_lm", "tailor", *peer_trainers.available()]),
                        help="comma-separated, of: mlx_lm, tailor, " + ", ".join(peer_trainers.PEERS))
    part = parser.add_mutually_exclusive_group()
    part.add_argument("--memory", action="store_true", help="only the memory part")
    part.add_argument("--no-memory", action="store_true", help="only the speed part")
    parser.add_argument("--memory-iters", type=int, default=3, help=argparse.SUPPRESS)  # smaller for trying it out
    parser.add_argument("--memory-batch", type=int, default=8, help=argparse.SUPPRESS)
    args = parser.parse_args()
    trainers = args.trainers.split(",")
    if unknown := [who for who in trainers if who not in LABELS]:
        parser.error(f"unknown trainer {', '.join(unknown)}: use {', '.join(LABELS)}")
    if missing := [who for who in trainers if who in peer_trainers.PEERS and who not in peer_trainers.available()]:
        parser.error(f"no venv for {', '.join(missing)}: run `make bench-peers` first")
    stamp = time.strftime("%H%M%S")
    with tempfile.TemporaryDirectory() as folder:
        if not args.memory:
            speed_part(trainers, args.iters, args.seeds, Path(folder), stamp)
        if not args.no_memory:
            memory_part(Path(folder), args.memory_iters, args.memory_batch, stamp)


if __name__ == "__main__":
    main()
