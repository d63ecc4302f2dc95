"""`tailor generate`, `tailor chat` and `tailor eval`: try a fine-tuned model from a terminal and score it.

generate and chat stream answers in this process; eval scores base and tuned on a prompt set in a
worker, writes report.json and report.html into the run folder and prints the summary.
"""

import argparse
import sys
from pathlib import Path

from .. import exitcodes, jobs
from ..engine.evaluate.general_scores import DEFAULT_LIMIT, GeneralCheck
from .running import run_job


def model_and_adapter(args):
    """(model name, adapter folder or None) from --run (with --checkpoint) or --model and --adapter-path."""
    if args.run:
        from ..engine.runs import runs

        return runs.model_and_adapter(runs.find(args.run), args.checkpoint)
    return args.model or "demo", args.adapter_path


def _sampling(args):
    from ..engine.evaluate.sampling import Sampling

    return Sampling.from_dict({"temperature": args.temp, "top_p": args.top_p, "max_tokens": args.max_tokens,
                               "seed": args.seed})


def _load(args):
    from ..engine.evaluate.generation import TunedModel

    model_name, adapter = model_and_adapter(args)
    tuned = TunedModel(model_name, adapter)
    return tuned, ("tuned" if adapter and not args.base else "base")


def _stream_reply(tuned, side, messages, sampling, system) -> str:
    """Print an answer as it comes; Ctrl-C ends it early and keeps what was said."""
    text = ""
    try:
        for piece in tuned.stream(side, messages, sampling, system):
            text += piece.text
            print(piece.text, end="", flush=True)
    except KeyboardInterrupt:
        print(" [stopped]", end="")
    print(flush=True)
    return text.strip()


def cmd_generate(args) -> int:
    from ..engine.evaluate.generation import user

    tuned, side = _load(args)
    _stream_reply(tuned, side, user(args.prompt), _sampling(args), args.system)
    return exitcodes.DONE


def cmd_chat(args) -> int:
    tuned, side = _load(args)
    sampling = _sampling(args)
    who = "the fine-tuned model" if side == "tuned" else "the model"
    print(f"Chatting with {who} ({sampling.describe()}). Empty line: nothing; /reset: start over; /exit or "
          "Ctrl-D: quit; Ctrl-C: stop an answer.", file=sys.stderr)
    messages = []
    while True:
        try:
            line = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return exitcodes.DONE
        if line in ("/exit", "/quit"):
            return exitcodes.DONE
        if line == "/reset":
            messages = []
            print("(a new chat)", file=sys.stderr)
            continue
        if not line:
            continue
        messages.append({"role": "user", "content": line})
        print("model> ", end="", flush=True)
        messages.append({"role": "assistant", "content": _stream_reply(tuned, side, messages, sampling, args.system)})


def print_verdict(run_dir) -> None:
    """The verdict card of the run's report, with the picks made so far, in plain lines."""
    import textwrap

    from ..engine.evaluate import picks, report, verdict

    card = verdict.card(report.read(run_dir), picks.read(run_dir))
    print(card.headline)
    for line in [*card.lines, card.general]:
        if line:
            print(textwrap.fill(line, 100, initial_indent="  ", subsequent_indent="  "))
    if card.tips:
        print("What to try:")
        for tip in card.tips:
            print(textwrap.fill(tip, 100, initial_indent="  - ", subsequent_indent="    "))
    print()


def print_summary(summary: dict, check: dict | None, general: dict | None = None) -> None:
    """The scores of the answers, then each general knowledge set when it was checked."""
    from ..engine.evaluate.general_scores import general_rows
    from ..engine.evaluate.scores import change_text, figure, summary_rows

    rows = [(label, figure(key, summary["base"][key]), figure(key, summary["tuned"][key]),
             change_text(key, summary["difference"][key])) for key, label, _ in summary_rows(summary, check)]
    rows += general_rows(general) if general else []
    width = max([44, *(len(row[0]) for row in rows)])
    print(f"{'':{width}} {'original':>10} {'fine-tuned':>11} {'change':>12}")
    for label, base, tuned, change in rows:
        print(f"{label:{width}} {base:>10} {tuned:>11} {change:>12}")


def evaluate_job(run_dir, values: dict) -> jobs.EvaluateJob:
    """The worker job that scores a run (events go to a scratch folder, the report into the run)."""
    return jobs.EvaluateJob(run=str(jobs.scratch_folder("evaluate")), source=str(run_dir),
                            **{key: value for key, value in values.items() if value is not None})


def cmd_check_export(run_dir, args) -> int:
    """`tailor eval --gguf`: the run's GGUF asked the held-out prompts, compared with the tested model."""
    job = jobs.CheckExportJob(run=str(jobs.scratch_folder("check-export")), source=str(run_dir),
                              gguf=args.gguf or None, checkpoint=args.checkpoint, sampling=_sampling(args).to_dict(),
                              limit=args.limit)
    code, result = run_job(job, "Checking the exported model")
    if code == exitcodes.DONE and result and not result.get("stopped"):
        print(result["words"])
        if result["gguf"]:
            print(f"Each answer side by side: {Path(result['gguf']).parent / 'answers_check.json'}")
    return code


def cmd_eval(args) -> int:
    from ..engine.runs import runs

    run_dir = runs.find(args.run)
    if args.gguf is not None:
        return cmd_check_export(run_dir, args)
    check = ({"kind": "ends_with", "value": args.ends_with} if args.ends_with else
             {"kind": "regex", "value": args.regex} if args.regex else None)
    judge = None
    if args.judge:
        from ..engine.evaluate.judge_choice import find_judge

        judge = find_judge(args.judge, args.judge_model, args.criteria).to_dict()
    general = None
    if args.general is not None:
        general = GeneralCheck.from_text(args.general, args.general_limit).to_dict()
    job = evaluate_job(run_dir, {"prompts": args.prompts and str(args.prompts), "checkpoint": args.checkpoint,
                                 "sampling": _sampling(args).to_dict(), "check": check, "system": args.system,
                                 "limit": args.limit, "judge": judge, "general": general})
    code, result = run_job(job, "Scoring")
    if code != exitcodes.DONE or result is None:
        return code
    print_verdict(run_dir)
    print_summary(result["summary"], result["check"], result.get("general"))
    print(f"\nReport: {result['report']['html']}\n        {result['report']['json']}")
    return exitcodes.DONE


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of at least 1")
    return int(text)


def _add_sampling_flags(command, max_tokens: int) -> None:
    command.add_argument("--max-tokens", type=int, default=max_tokens)
    command.add_argument("--temp", type=float, default=0.0, help="0 (the default) is greedy: repeatable answers")
    command.add_argument("--top-p", type=float, default=1.0)
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--system", help="a system prompt")


def add_model_flags(command, base: bool = True) -> None:
    command.add_argument("--run", help="a run id or folder: its model and adapter")
    command.add_argument("--checkpoint", choices=("last", "best"), default="last", help="which adapter of the run")
    command.add_argument("--model", help="'demo' or a model folder (without --run)")
    command.add_argument("--adapter-path", help="an adapter folder (without --run)")
    if base:
        command.add_argument("--base", action="store_true", help="answer with the model without its adapter")


def add_eval_commands(sub) -> None:
    generate = sub.add_parser("generate", help="answer one prompt (streamed)")
    add_model_flags(generate)
    generate.add_argument("--prompt", required=True)
    _add_sampling_flags(generate, 100)
    generate.set_defaults(func=cmd_generate)

    chat = sub.add_parser("chat", help="chat with a fine-tuned model in this terminal")
    add_model_flags(chat)
    _add_sampling_flags(chat, 300)
    chat.set_defaults(func=cmd_chat)

    evaluate = sub.add_parser("eval", help="score the base and the tuned model on a prompt set; write a report",
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="The report goes to the run folder as report.json and report.html.")
    evaluate.add_argument("--run", required=True, help="a run id or folder")
    evaluate.add_argument("--checkpoint", choices=("last", "best"), default="last")
    evaluate.add_argument("--prompts", help="a file of prompts (default: the run's test split): .txt one per line, "
                                            "or JSONL/CSV/Parquet with prompt and expected, or chats")
    checks = evaluate.add_mutually_exclusive_group()
    checks.add_argument("--ends-with", help="count the answers that end with this text")
    checks.add_argument("--regex", help="count the answers that match this regular expression")
    evaluate.add_argument("--limit", type=positive, help="score only the first N prompts")
    evaluate.add_argument("--judge", help="the model that judges which answer is better: a model a server on this Mac "
                                          "serves (qwen2.5:7b), a server's address (127.0.0.1:11434) or a model folder")
    evaluate.add_argument("--judge-model", help="which model of the --judge server judges, when it serves several")
    evaluate.add_argument("--gguf", nargs="?", const="", metavar="FILE",
                          help="check the exported model instead: the GGUF (default: the run's latest) asked the "
                               "held-out prompts in llama.cpp, and the run's Ollama model in Ollama when it runs; "
                               "does it answer as the model you tested?")
    evaluate.add_argument("--criteria", help="what matters in an answer, in your words (default: answers like the "
                                             "examples: their facts, tone and length)")
    evaluate.add_argument("--general", nargs="?", const="", metavar="TASKS",
                          help="also check general knowledge before and after (lm-evaluation-harness): question sets "
                               f"by name, comma-separated, or task files (.yaml); without a value "
                               f"{GeneralCheck().names}. Their data is downloaded once.")
    evaluate.add_argument("--general-limit", type=positive, metavar="N",
                          help=f"questions asked of each general knowledge set (default {DEFAULT_LIMIT})")
    _add_sampling_flags(evaluate, 200)
    evaluate.set_defaults(func=cmd_eval)
