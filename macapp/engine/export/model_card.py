"""The model card (README.md) an upload to Hugging Face carries, written from the run: what the model is, its data's
size and format (never the examples), the settings, the validation loss and the Test step's scores, how to use it.

Plain data, no MLX. The card goes into the upload's commit only; nothing is written into the run or its exports.
"""

import json
from pathlib import Path

import yaml

from ..evaluate.scores import change_text, figure, summary_rows
from ..models import catalog, models
from ..runs import runs
from ..runs.run_state import RunState
from ..train import config
from ..train.presets import METHODS
from ..train.run_spec import RunSpec

LICENCES = {"Apache 2.0": "apache-2.0", "MIT": "mit", "Gemma Terms of Use": "gemma",
            "Llama 3.1 Community License": "llama3.1", "Llama 3.2 Community License": "llama3.2"}
FORMATS = {"chat": "chats (messages with roles)", "completions": "prompts with their completions",
           "text": "plain text"}
SPLITS = (("train", "training"), ("valid", "validation"), ("test", "test"))
# What mlx-lm reads from an adapter's settings; the rest (data, adapter_path, resume_adapter_file) can name folders
# on this Mac, such as /Users/<name>/..., and is never published.
ADAPTER_KEYS = ("fine_tune_type", "num_layers", "lora_parameters")


def files(run_dir, folder, repo: str) -> dict[str, bytes]:
    """The files the upload of `folder` gets from the run rather than from the folder: the card, and for an adapter
    its adapter_config.json with only what mlx-lm reads, and the base model only when it is on the hub."""
    shared = {"README.md": card(run_dir, repo, is_adapter(folder)).encode()}
    if is_adapter(folder):
        settings = json.loads((Path(folder) / "adapter_config.json").read_text(encoding="utf-8"))
        base = base_model(run_dir)
        settings = {**{k: v for k, v in settings.items() if k in ADAPTER_KEYS},
                    **({"model": base} if models.is_repo_id(base) else {})}
        shared["adapter_config.json"] = (json.dumps(settings, indent=2, sort_keys=True) + "\n").encode()
    return shared


def is_adapter(folder) -> bool:
    return (Path(folder) / "adapter_config.json").exists() and not (Path(folder) / "config.json").exists()


def base_model(run_dir) -> str:
    """The model the person chose to train ('demo', a repository or a folder), not a quantized copy of it."""
    spec = RunSpec.load(run_dir)
    return spec.model if spec else config.load(Path(run_dir) / "config.yaml").model


def card(run_dir, repo: str, adapter: bool) -> str:
    """The whole README.md: YAML front matter the hub reads, then the sections in plain Markdown."""
    run_dir = Path(run_dir)
    settings = config.load(run_dir / "config.yaml")
    spec = RunSpec.load(run_dir)
    base = base_model(run_dir)
    method = spec.method if spec else settings.fine_tune_type
    sections = [_about(base, method, adapter), _data(run_dir), _settings(settings, method),
                _results(run_dir), _usage(base, repo, adapter)]
    return f"---\n{_front_matter(base, settings.fine_tune_type, adapter)}---\n\n# {repo.split('/')[1]}\n\n" + \
        "\n\n".join(s for s in sections if s) + "\n"


def _front_matter(base: str, fine_tune_type: str, adapter: bool) -> str:
    meta = {"library_name": "mlx", "pipeline_tag": "text-generation", "tags": ["mlx", fine_tune_type, "tailor"]}
    if models.is_repo_id(base):
        meta["base_model"] = base
        meta["base_model_relation"] = "adapter" if adapter else "finetune"
    known = catalog.find(base) if models.is_repo_id(base) else None
    if known:
        entry = known[0]
        meta["license"] = LICENCES.get(entry.licence, "other")
        if meta["license"] == "other":
            meta["license_name"] = entry.licence.lower().replace(" ", "-")
            meta["license_link"] = entry.licence_url
    return yaml.safe_dump(meta, sort_keys=False)


def _base_words(base: str) -> str:
    if base == "demo":
        return "Tailor's built-in demo model (a tiny model made on the computer, not on Hugging Face)"
    if models.is_repo_id(base):
        return f"[{base}](https://huggingface.co/{base})"
    return f"a model from the trainer's computer ({Path(base).name})"


def _about(base: str, method: str, adapter: bool) -> str:
    how = METHODS.get(method, (method,))[0].split(":")[0]
    what = ("An adapter: the small set of weights fine-tuning learned, used together with the base model."
            if adapter else "A standalone model: the base model with what fine-tuning learned merged in.")
    return (f"{what}\n\n- Base model: {_base_words(base)}\n- Method: {how}\n"
            "- Made with Tailor, on a Mac, with [MLX](https://github.com/ml-explore/mlx)")


def _data(run_dir: Path) -> str:
    try:
        manifest = json.loads((run_dir / "data" / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    counts = [f"{manifest['files'][key]['count']:,} {words}" for key, words in SPLITS
              if manifest.get("files", {}).get(key, {}).get("count")]
    shape = FORMATS.get(manifest.get("format"), manifest.get("format") or "examples")
    return (f"## Data\n\n{', '.join(counts)} examples, as {shape}. The examples themselves are not published "
            "here.")


def _settings(settings, method: str) -> str:
    rows = [("Steps (iterations)", f"{settings.iters:,}"), ("Batch size", str(settings.batch_size)),
            ("Learning rate", f"{settings.learning_rate:g}")]
    if method != "full":
        rows.append(("Rank", str(settings.lora_parameters.get("rank", 8))))
    rows += [("Layers trained", "all" if settings.num_layers == -1 else str(settings.num_layers)),
             ("Maximum length of an example (tokens)", f"{settings.max_seq_length:,}")]
    if METHODS.get(method, ("", "", 0))[2]:
        rows.append(("Base quantized to", f"{METHODS[method][2]} bits while training"))
    return "## Settings\n\n| setting | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def _results(run_dir: Path) -> str:
    state = RunState.replay(runs.read_events(run_dir))
    lines = []
    if state.val_points:
        step, loss = state.val_points[-1][:2]
        lines.append(f"Validation loss (lower is better): {loss:.3f} at the last check (step {step})"
                     + (f"; best {state.best[1]:.3f} at step {state.best[0]}." if state.best else "."))
    try:
        report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = None
    if report and report.get("summary"):
        summary = report["summary"]
        lines.append(f"\nThe Test step scored the original model against the fine-tuned one (with its "
                     f"{report.get('adapter_label', 'adapter')}) on {summary['tuned'].get('count', 0)} prompts from "
                     f"{report.get('prompt_set') or 'the test split'}. Answers: "
                     f"{report.get('sampling_text', 'greedy')}.\n")
        lines.append("| | original | fine-tuned | change |\n|---|---|---|---|")
        for key, label, _ in summary_rows(summary, report.get("check")):
            base, tuned = summary["base"][key], summary["tuned"][key]
            lines.append(f"| {label} | {figure(key, base)} | {figure(key, tuned)} | {change_text(key, tuned - base)} |")
    return "## Results\n\n" + "\n".join(lines) if lines else ""


def _usage(base: str, repo: str, adapter: bool) -> str:
    if not adapter:
        return (f"## How to use it\n\n```sh\npip install mlx-lm\nmlx_lm generate --model {repo} --prompt \"Hello\"\n"
                f"```\n\nOr in Python:\n\n```python\nfrom mlx_lm import load, generate\n\nmodel, tokenizer = "
                f"load(\"{repo}\")\nprint(generate(model, tokenizer, prompt=\"Hello\"))\n```")
    model = base if models.is_repo_id(base) else "BASE-MODEL"
    note = "" if model == base else ("\n\nBASE-MODEL stands for the base model above, which is not on Hugging Face: "
                                     "a folder holding it.")
    return (f"## How to use it\n\nDownload the adapter, then give it to mlx-lm with its base model:\n\n```sh\n"
            f"pip install mlx-lm\nhf download {repo} --local-dir adapter\n"
            f"mlx_lm generate --model {model} --adapter-path adapter --prompt \"Hello\"\n```{note}")
