"""`tailor data ...`: inspect, prepare and synthesize training data from a terminal.

Inspect exits 2 only when a problem stops training (what Tailor fixes itself is said, with exit 0); each problem is
printed with its file:line and fix.
"""

import argparse
import json
import sys

from .. import exitcodes
from ..engine import words
from ..engine.data.datasets import DEFAULT_RATIOS

SEVERITY_LABEL = {"error": "error", "fixable": "will fix", "warning": "warning"}


def _mapping(args):
    from ..engine.data.formats import Mapping

    return Mapping(messages=args.messages, prompt=args.prompt, completion=args.completion, text=args.text,
                   chosen=args.chosen, rejected=args.rejected, system=args.system, style=args.style, sheet=args.sheet)


def _print_report(report) -> None:
    splits = ", ".join(f"{name} {count}" for name, count in report.splits.items() if name != "all")
    noun = "pairs of a better and a worse answer" if report.format == "preference" else "examples"
    print(f"{report.count} {noun}" + (f" ({splits})" if splits else "") + f", format: {report.format or 'unknown'}")
    if report.guessed:
        named = {key: column for key, column in report.guessed.items() if column}
        print("columns read from their names: " + ", ".join(f"{key} = {column!r}" for key, column in named.items())
              + f" ({' and '.join('--' + key for key in named)} choose others)")
    if report.broken:
        print(f"{words.count(report.broken, 'record')} could not be read" + (
            ", left out" if report.skipped else " (--skip-broken leaves them out)"))
    if report.sheets:
        others = [name for name in report.sheets["names"] if name != report.sheets["chosen"]]
        print(f"sheet read: {report.sheets['chosen']!r}" + (f" (others: {', '.join(map(repr, others))}; --sheet "
                                                            "chooses one)" if others else ""))
    if report.duplicates:
        near = f", {report.near} of them only in case, spaces or punctuation" if report.near else ""
        print(f"{report.duplicates} examples repeat another{near}: the split leaves them out, or keeps all "
              f"{report.duplicates + report.repeat_groups} copies in training only (tailor data prepare or tailor "
              "train with --keep-repeats); none is both trained on and held out")
    if report.asked_again and "all" in report.splits:
        print(f"{words.count(report.questions_asked_again, 'question')} asked more than once with different answers "
              f"({report.asked_again} examples): the split trains on them all and keeps none for testing, so no "
              "question is both trained on and tested")
    if report.overlap:
        print(f"{report.overlap} examples of your validation or test part are also in an earlier part: the split "
              "leaves them out of it")
    if report.token_stats:
        stats = report.token_stats
        print(f"tokens per example: min {stats['min']}, median {stats['median']}, max {stats['max']}")
        tallest = max(n for _, _, n in report.histogram) or 1
        for low, high, count in report.histogram:
            if count:
                print(f"  {low:>6}-{high - 1:<6} {'#' * max(1, round(30 * count / tallest))} {count}")
    for problem in report.problems:
        print(f"{SEVERITY_LABEL[problem.severity]}: {problem}")
    if report.unlisted:
        print(f"... and {report.unlisted} more problems like these")


def cmd_inspect(args) -> int:
    from ..engine.data import datasets
    from ..engine.models import loading, obtain

    tokenizer = loading.load(obtain.resolve(args.model))[1] if args.model else None
    report = datasets.inspect(args.files, _mapping(args), tokenizer, args.max_seq_length, args.batch_size,
                              args.skip_broken)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    return exitcodes.BAD_INPUT if report.errors else exitcodes.DONE


def ratios(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1) > 1e-6:
        raise argparse.ArgumentTypeError(f"{text!r}: give three ratios that add up to 1, e.g. 0.8,0.1,0.1")
    return parts


def cmd_prepare(args) -> int:
    from ..engine.data import datasets

    manifest = datasets.prepare(args.files, args.out, args.split, args.seed,
                                "train" if args.keep_repeats else "drop", _mapping(args), args.skip_broken)
    for fixed in manifest["fixed"]:
        print(f"fixed: {fixed}", file=sys.stderr)
    counts = ", ".join(f"{name} {info['count']}" for name, info in manifest["files"].items())
    left_out = f"; {manifest['left_out']} repeated examples left out" if manifest["left_out"] else ""
    print(f"Wrote {args.out}: {counts} ({manifest['format']} format{left_out})")
    return exitcodes.DONE


def _recipe(args):
    from pathlib import Path

    from ..engine.data.recipe import Recipe
    from ..engine.errors import InputError

    ways = [way for way, given in (("instructions", args.instructions), ("topic", args.topic),
                                   ("documents", args.documents)) if given]
    if len(ways) != 1:
        raise InputError("Say what the examples are made from: a file of instructions, --topic TEXT, or "
                         "--documents FILE_OR_FOLDER (one of them).")
    return Recipe(way=ways[0], topic=args.topic or "", kinds=args.kinds or "", count=args.count,
                  instructions=str(Path(args.instructions).resolve()) if args.instructions else None,
                  documents=[str(Path(d).resolve()) for d in args.documents or []], per_passage=args.per_passage,
                  follow_up=args.follow_up, system=args.system, endpoint=args.endpoint, api_model=args.api_model,
                  model=args.model, temperature=args.temperature, max_tokens=args.max_tokens).check()


def cmd_synth(args) -> int:
    from pathlib import Path

    from .. import jobs
    from ..engine.data import made_data
    from .running import run_job

    recipe = _recipe(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    code, result = run_job(jobs.SynthJob(run=str(out.resolve()), recipe=recipe.to_dict(), split=True), "Making data")
    if code == exitcodes.DONE and result:
        counts = ", ".join(f"{name} {info['count']}" for name, info in result["manifest"]["files"].items())
        print(f"{result['examples']} examples in {args.out} ({result['new']} new): {counts}")
        if result.get("fewer"):
            print(result["fewer"])
    elif code == exitcodes.FAILED and made_data.has_made(out):
        print("What was made so far is kept: run the same command again to go on from there.", file=sys.stderr)
    elif code == exitcodes.STOPPED:
        print(f"Stopped; run the same command again to go on from the {(result or {}).get('examples', 'examples')} "
              "made so far.", file=sys.stderr)
    return code


def _add_mapping_flags(parser) -> None:
    group = parser.add_argument_group("map your columns (when the format is not detected)")
    group.add_argument("--messages", help="column holding a list of chat messages")
    group.add_argument("--prompt", help="column (or template such as '{context}\\n\\n{question}') for the prompt")
    group.add_argument("--completion", help="column (or template) for the answer")
    group.add_argument("--text", help="column (or template) for plain text")
    group.add_argument("--chosen", help="column (or template) for the better answer of a pair (DPO, ORPO)")
    group.add_argument("--rejected", help="column (or template) for the worse answer of a pair")
    group.add_argument("--system", help="a system prompt added to every chat")
    group.add_argument("--sheet", help="the sheet of a workbook to read (default: the first with data)")
    group.add_argument("--style", choices=("keep", "mistral-text"), default="keep",
                       help="mistral-text writes '<s>[INST] prompt [/INST] answer</s>' text")
    parser.add_argument("--skip-broken", action="store_true",
                        help="leave out records that cannot be read at all (broken JSON lines) instead of stopping")


def add_data_commands(sub) -> None:
    data = sub.add_parser("data", help="inspect, prepare or generate training data")
    actions = data.add_subparsers(dest="action", required=True)
    inspect = actions.add_parser("inspect", help="check data and report every problem with file:line")
    inspect.add_argument("files", nargs="+", help="JSONL, JSON, CSV, TSV, Excel, Numbers, OpenDocument or Parquet "
                                                  "files, or folders")
    inspect.add_argument("--model", help="count tokens with this model's tokenizer ('demo' or a folder)")
    inspect.add_argument("--max-seq-length", type=int, default=2048)
    inspect.add_argument("--batch-size", type=int, default=4)
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_mapping_flags(inspect)
    inspect.set_defaults(func=cmd_inspect)

    prepare = actions.add_parser("prepare", help="check, split and write train/valid/test.jsonl")
    prepare.add_argument("files", nargs="+")
    prepare.add_argument("--out", required=True)
    prepare.add_argument("--split", type=ratios, default=DEFAULT_RATIOS, help="train,valid,test ratios")
    prepare.add_argument("--seed", type=int, default=0)
    prepare.add_argument("--keep-repeats", action="store_true",
                         help="keep every copy of a repeated example, in training only (default: keep one)")
    _add_mapping_flags(prepare)
    prepare.set_defaults(func=cmd_prepare)

    from ..engine.data.recipe import Recipe

    defaults = Recipe()
    synth = actions.add_parser("synth", help="make chat examples by asking a local model")
    synth.add_argument("instructions", nargs="?", help="a JSON array of instructions, or a text file with one per line")
    synth.add_argument("--topic", help="or: a topic the model writes questions about (with --count and --kinds)")
    synth.add_argument("--kinds", help="the kind of questions, e.g. 'from beginners, about problems they meet'")
    synth.add_argument("--count", type=int, default=defaults.count,
                       help=f"how many questions about the topic (default {defaults.count})")
    synth.add_argument("--documents", nargs="+", help="or: PDF, DOCX, Markdown, text or HTML files, or folders")
    synth.add_argument("--per-passage", type=int, default=defaults.per_passage,
                       help=f"questions on each passage of the documents (default {defaults.per_passage})")
    synth.add_argument("--out", required=True, help="folder for the examples and the prepared split")
    where = synth.add_mutually_exclusive_group(required=True)
    where.add_argument("--endpoint", help="an OpenAI-compatible URL, e.g. http://localhost:11434/v1 (Ollama)")
    where.add_argument("--model", help="an MLX model to load here: 'demo' or a folder")
    synth.add_argument("--api-model", default=defaults.api_model,
                       help="the model name the endpoint serves (Ollama: e.g. llama3.2; mlx_lm server: its own model)")
    synth.add_argument("--follow-up", action="store_true", help="add a follow-up question and answer to each")
    synth.add_argument("--system", help="a system prompt for the model")
    synth.add_argument("--temperature", type=float, default=defaults.temperature)
    synth.add_argument("--max-tokens", type=int, default=defaults.max_tokens)
    synth.set_defaults(func=cmd_synth)
