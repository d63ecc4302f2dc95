"""Turn a raw record into an example in one of mlx-lm's formats, and check it.

The format is detected (`messages`, `prompt`/`completion`, `text`, or a preference pair's `chosen`/`rejected`) or
mapped from the user's own columns, optionally through a template, a system prompt, or the Mistral text form.
"""

import re
import string
from dataclasses import dataclass

from ..errors import Problem
from . import pairs

FORMAT_KEYS = {"preference": ("chosen", "rejected"), "chat": ("messages",), "completions": ("prompt", "completion"),
               "text": ("text",)}
OPTIONAL_KEYS = {"preference": ("prompt", "system"), "chat": ("tools",), "completions": ("tools",), "text": ()}
MAPPED_KEYS = {**FORMAT_KEYS, "preference": ("prompt", "chosen", "rejected")}  # the columns a mapping names
ROLES = ("system", "user", "assistant", "tool")
STYLES = ("keep", "mistral-text")
EXAMPLE = {
    "chat": '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}',
    "completions": '{"prompt": "Hi", "completion": "Hello!"}',
    "text": '{"text": "Some text to learn."}',
    "preference": pairs.EXAMPLE,
}
FORMATS_HELP = ('Use {"messages": [...]} for chats, {"prompt": ..., "completion": ...} or {"text": ...}, '
                "or map your columns (e.g. --prompt question --completion answer).")
# Words people put in the names of their question and answer columns ("Comment", "Customer message", "Reply").
# A column whose name holds an answer word is an answer; the first word found in each list wins.
ANSWER_WORDS = ("answer", "response", "reply", "completion", "output", "assistant", "bot", "gpt", "agent",
                "support", "target", "resolution", "a")
NOT_TEXT_WORDS = ("id", "uuid", "date", "time", "timestamp", "url", "link", "score", "rating")  # never a question
PROMPT_WORDS = ("question", "prompt", "instruction", "query", "comment", "request", "input", "user", "human",
                "customer", "message", "inquiry", "enquiry", "post", "email", "ask", "q")


@dataclass
class Mapping:
    """How to build examples from the user's columns; empty means "detect the format".

    prompt, completion, text and messages name a column, or give a template such as
    "{context}\\n\\n{question}" that fills in several.
    """

    messages: str | None = None
    prompt: str | None = None
    completion: str | None = None
    text: str | None = None
    chosen: str | None = None  # a preference pair's better answer, and its worse one
    rejected: str | None = None
    system: str | None = None
    style: str = "keep"
    sheet: str | None = None  # the sheet of a workbook the examples are on; None: the first with data

    @classmethod
    def from_dict(cls, values: dict | None) -> "Mapping | None":
        """The mapping a job or a run's spec keeps as plain fields; None when there is none."""
        return cls(**values) if values else None

    @property
    def format(self) -> str | None:
        if self.messages:
            return "chat"
        if self.chosen or self.rejected:
            return "preference"
        if self.prompt or self.completion:
            return "completions"
        return "text" if self.text else None


def _words(name) -> list[str]:
    return re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name)).lower())


def _best(columns: list, words: tuple) -> str | None:
    ranked = [(words.index(w), i) for i, c in enumerate(columns) for w in _words(c) if w in words]
    return columns[min(ranked)[1]] if ranked else None


def guess_mapping(columns: list) -> Mapping | None:
    """The question and answer columns as people name them (comment/response, question/answer, input/output,
    instruction/response, user/assistant, prompt/reply, ...), or the question and the better and worse answers'
    (chosen/rejected, preferred/dispreferred, better/worse, good answer/bad answer); None when the names do not tell."""
    columns = [c for c in columns if not any(w in NOT_TEXT_WORDS for w in _words(c))]
    chosen, rejected = _best(columns, pairs.CHOSEN_WORDS), _best(columns, pairs.REJECTED_WORDS)
    if chosen is not None and rejected is not None and chosen != rejected:
        prompt = question_column([c for c in columns if c not in (chosen, rejected)])
        return Mapping(prompt=str(prompt), chosen=str(chosen), rejected=str(rejected)) if prompt else None
    answer = _best([c for c in columns if any(w in ANSWER_WORDS for w in _words(c))], ANSWER_WORDS)
    prompt = question_column(columns)
    if not (prompt and answer):
        return None
    lowered = {str(c).lower(): c for c in columns}
    if str(prompt).lower() == "instruction" and "input" in lowered:  # Alpaca: the input goes under the instruction
        prompt = f"{{{prompt}}}\n\n{{{lowered['input']}}}"
    return Mapping(prompt=str(prompt), completion=str(answer))


def question_column(columns: list) -> str | None:
    """The column whose name says it holds questions (not answers, ids or dates); None when no name says so."""
    return _best([c for c in columns if not any(w in NOT_TEXT_WORDS + ANSWER_WORDS for w in _words(c))],
                 PROMPT_WORDS)


def detect_format(record: dict) -> str | None:
    for name, keys in FORMAT_KEYS.items():
        if all(key in record for key in keys):
            return name
    return None


def _fill(spec: str, record: dict, field: str, where: dict):
    """(value, problem): a column's value, or a template filled from the record."""
    if spec in record:
        value = record[spec]
        if value is None:
            return None, Problem("error", f"column {spec!r} is empty", field=field, fix="Fill it or drop the row.",
                                 **where)
        return (value if field == "messages" or isinstance(value, str) else str(value)), None
    names = [name for _, name, _, _ in string.Formatter().parse(spec) if name]
    missing = [n for n in names if n not in record]
    if not names or missing:
        columns = ", ".join(map(str, record)) or "none"
        return None, Problem("error", f"no column {(missing or [spec])[0]!r} (the columns are: {columns})",
                             field=field, fix="Choose one of those columns.", **where)
    return spec.format_map({n: "" if record[n] is None else record[n] for n in names}), None


def _mapped(record: dict, mapping: Mapping, where: dict):
    kind = mapping.format
    built, problems = {}, []
    for key in MAPPED_KEYS[kind]:
        spec = getattr(mapping, key)
        if not spec:
            problems.append(Problem("error", f"no column is mapped to {key}", field=key,
                                    fix=f"Choose the column that holds the {key}.", **where))
            continue
        value, problem = _fill(spec, record, key, where)
        problems += [problem] if problem else []
        built[key] = value
    return (None if problems else built), problems


def _check_chat(example: dict, where: dict) -> list[Problem]:
    messages = example["messages"]
    if not isinstance(messages, list) or not messages:
        return [Problem("error", "must be a non-empty list of messages", field="messages",
                        fix=f"Write it like {EXAMPLE['chat']}", **where)]
    problems = []
    for index, message in enumerate(messages):
        name = f"messages[{index}]"
        if not isinstance(message, dict):
            problems.append(Problem("error", "must be an object with role and content", field=name,
                                    fix='Write {"role": "user", "content": "..."}', **where))
            continue
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            missing = "role" not in message
            problems.append(Problem("error", "has no role" if missing else f"unknown role {role!r}",
                                    field=f"{name}.role", fix=f"Use one of: {', '.join(ROLES)}.", **where))
        if not isinstance(content, str) and not (role == "assistant" and message.get("tool_calls")):
            problems.append(Problem("error", "has no content" if "content" not in message else "content must be text",
                                    field=f"{name}.content", fix="Put the message text in a string.", **where))
    if problems:
        return problems
    return _check_role_order([m["role"] for m in messages], messages, where)


def _check_role_order(roles: list[str], messages: list[dict], where: dict) -> list[Problem]:
    turns = [r for r in roles if r != "tool"]
    if "system" in roles[1:]:
        index = roles.index("system", 1)
        return [Problem("error", "a system message can only come first", field=f"messages[{index}].role",
                        fix="Move the system message to the start.", **where)]
    body = turns[1:] if turns and turns[0] == "system" else turns
    if not body or body[0] != "user":
        return [Problem("error", "the chat must start with a user message (after an optional system message)",
                        field="messages", fix="Put the user's message before the answer.", **where)]
    for index, (first, second) in enumerate(zip(body, body[1:])):
        if first == second:
            return [Problem("error", f"two {first} messages in a row", field="messages",
                            fix="Alternate user and assistant messages; merge the two.", **where)]
    if roles[-1] != "assistant":
        return [Problem("error", f"the last message is from {roles[-1]!r}, not the assistant", field="messages",
                        fix="End each chat with the answer to learn.", **where)]
    if not (messages[-1].get("content") or "").strip() and not messages[-1].get("tool_calls"):
        return [Problem("warning", "the answer is empty", field=f"messages[{len(messages) - 1}].content",
                        fix="Write the answer, or remove this example.", **where)]
    return []


def _check_completions(example: dict, where: dict) -> list[Problem]:
    problems = [Problem("error", "must be text", field=key, fix="Put the text in a string.", **where)
                for key in ("prompt", "completion") if not isinstance(example[key], str)]
    if not problems and not example["completion"].strip():
        problems.append(Problem("warning", "the answer is empty", field="completion",
                                fix="Write the answer, or remove this example.", **where))
    return problems


def _check_text(example: dict, where: dict) -> list[Problem]:
    if not isinstance(example["text"], str):
        return [Problem("error", "must be text", field="text", fix="Put the text in a string.", **where)]
    if not example["text"].strip():
        return [Problem("warning", "is empty", field="text", fix="Remove this example.", **where)]
    return []


CHECKS = {"chat": _check_chat, "completions": _check_completions, "text": _check_text}


def _with_system(example: dict, kind: str, system: str) -> tuple[dict, str]:
    if kind == "completions":
        example = {"messages": [{"role": "user", "content": example["prompt"]},
                                {"role": "assistant", "content": example["completion"]}],
                   **({"tools": example["tools"]} if "tools" in example else {})}
        kind = "chat"
    if kind == "chat" and example["messages"][0].get("role") != "system":
        example = {**example, "messages": [{"role": "system", "content": system}, *example["messages"]]}
    return example, kind


def mistral_text(messages: list[dict]) -> str:
    """The `<s>[INST] ... [/INST] ...</s>` text form that tutorials train on."""
    system = messages[0]["content"] if messages[0]["role"] == "system" else None
    parts, pending = [], []
    for message in messages:
        if message["role"] == "user":
            pending.append(message["content"])
        elif message["role"] == "assistant":
            prompt = "\n\n".join(([system] if system and not parts else []) + pending)
            parts.append(f"<s>[INST] {prompt} [/INST] {message['content']}</s>")
            pending = []
    return "".join(parts)


def to_example(record, mapping: Mapping | None, where: dict):
    """(example or None, detected format or None, problems) for one raw record.

    The example's own format can differ from the detected one (a system prompt turns a prompt and
    completion into a chat; the Mistral style turns any chat into text).
    """
    if not isinstance(record, dict):
        return None, None, [Problem("error", "is not a JSON object", fix=FORMATS_HELP, **where)]
    mapping = mapping or Mapping()
    if mapping.format:
        example, problems = _mapped(record, mapping, where)
        kind = mapping.format
        if example is None:
            return None, kind, problems
    else:
        kind = detect_format(record)
        if kind is None:
            columns = ", ".join(map(str, record)) or "none"
            return None, None, [Problem("error", f"Tailor cannot tell which column holds the question and which "
                                                 f"the answer (the columns are: {columns})",
                                        fix="Say which column holds what: the question or prompt, and the answer.",
                                        **where)]
        example = {key: record[key] for key in FORMAT_KEYS[kind] + OPTIONAL_KEYS[kind] if key in record}
    if kind == "preference":
        pair, problems = pairs.check(example, where, _check_chat)
        if pair is not None and mapping.system and "system" not in pair:
            pair = {"system": mapping.system, **pair}
        return pair, kind, problems
    problems = CHECKS[kind](example, where)
    if any(p.severity == "error" for p in problems):
        return None, kind, problems
    output = kind
    if mapping.system and output != "text":
        example, output = _with_system(example, output, mapping.system)
    if mapping.style == "mistral-text" and output != "text":
        messages = example["messages"] if output == "chat" else [
            {"role": "user", "content": example["prompt"]}, {"role": "assistant", "content": example["completion"]}]
        example = {"text": mistral_text(messages)}
    return example, kind, problems
