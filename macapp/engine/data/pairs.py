"""Preference pairs: a prompt with a better and a worse answer, in TRL's or mlx-lm-lora's shape or a table's columns,
checked and kept as {"prompt", "chosen", "rejected"} (and "system" where given) for DPO and ORPO to learn from.

A prompt is a text, or the messages of a chat that the two answers continue; each answer is a text.
"""

from ..errors import Problem

# Words people put in the names of the better and the worse answer's columns ("Better answer", "Bad answer").
CHOSEN_WORDS = ("chosen", "preferred", "better", "good", "best", "accepted", "winner")
REJECTED_WORDS = ("rejected", "dispreferred", "worse", "bad", "worst", "declined", "loser")
EXAMPLE = '{"prompt": "Hi", "chosen": "Hello! -- Sam", "rejected": "Greetings to you, dear viewer."}'
SIDES = {"chosen": "better", "rejected": "worse"}


def prompt_messages(pair: dict) -> list[dict]:
    """The chat the two answers of a checked pair continue: its system prompt, then its prompt."""
    system = [{"role": "system", "content": pair["system"]}] if pair.get("system") else []
    prompt = pair["prompt"]
    return system + (list(prompt) if isinstance(prompt, list) else [{"role": "user", "content": prompt}])


def answered(pair: dict, side: str) -> list[dict]:
    """The whole chat of one side ("chosen" or "rejected") of a checked pair, as a chat example is written."""
    return prompt_messages(pair) + [{"role": "assistant", "content": pair[side]}]


def asked(pair: dict) -> str | None:
    """The question a pair's answers reply to: its prompt, or the last user message of its chat."""
    users = [m.get("content") for m in prompt_messages(pair) if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1] if users and isinstance(users[-1], str) else None


def _answer(value, side: str, where: dict):
    """(text, problem): an answer written as text, or as TRL's one assistant message."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        value = value[0].get("content") if value[0].get("role", "assistant") == "assistant" else None
    if isinstance(value, str):
        return value, None
    return None, Problem("error", f"the {SIDES[side]} answer must be text (or one assistant message)", field=side,
                         fix=f"Write it like {EXAMPLE}", **where)


def _implicit_prompt(record: dict, where: dict):
    """(pair, problems) of TRL's form without a prompt: two whole chats that differ only in their last answer."""
    chosen, rejected = record["chosen"], record["rejected"]
    if not (isinstance(chosen, list) and isinstance(rejected, list) and chosen and rejected):
        return None, [Problem("error", "has no prompt: the question the two answers reply to", field="prompt",
                              fix=f"Add it, like {EXAMPLE}", **where)]
    if chosen[:-1] != rejected[:-1] or not chosen[:-1]:
        return None, [Problem("error", "the two chats differ before their last answer", field="chosen",
                              fix="Give both the same messages before the answers, or put them under \"prompt\".",
                              **where)]
    return {"prompt": chosen[:-1], "chosen": chosen[-1:], "rejected": rejected[-1:]}, []


def check(record: dict, where: dict, check_chat) -> tuple[dict | None, list[Problem]]:
    """(pair, problems) of one record holding "chosen" and "rejected" (and "prompt", "system"); `check_chat` checks a
    chat's messages as formats does. A pair whose answers are the same, or with an empty answer, is left out."""
    if "prompt" not in record:
        record, problems = _implicit_prompt(record, where)
        if record is None:
            return None, problems
    answers, problems = {}, []
    prompt = record["prompt"]
    if isinstance(prompt, list):
        shown = prompt + [{"role": "assistant", "content": "-"}]  # a chat prompt ends where an answer would start
        problems += [p for p in check_chat({"messages": shown}, where) if p.severity == "error"]
    elif not isinstance(prompt, str) or not prompt.strip():
        problems.append(Problem("error", "the prompt is empty" if isinstance(prompt, str) or prompt is None
                                else "the prompt must be text or a list of messages", field="prompt",
                                fix="Write the question the two answers reply to.", **where))
    system = record.get("system")
    if system is not None and not isinstance(system, str):
        problems.append(Problem("error", "the system prompt must be text", field="system",
                                fix="Put the system prompt in a string.", **where))
    for side in SIDES:
        answers[side], problem = _answer(record[side], side, where)
        problems += [problem] if problem else []
    if problems:
        return None, problems
    pair = {**({"system": system} if system and system.strip() else {}), "prompt": prompt, **answers}
    empty = [SIDES[side] for side in SIDES if not pair[side].strip()]
    if empty:
        return None, [Problem("warning", f"the {' and the '.join(empty)} answer {'are' if len(empty) > 1 else 'is'} "
                                         "empty: this pair is left out", field="chosen" if "better" in empty
                              else "rejected", fix="Write the answer, or remove the row.", **where)]
    if " ".join(pair["chosen"].split()) == " ".join(pair["rejected"].split()):
        return None, [Problem("warning", "the better and the worse answer are the same: this pair teaches nothing "
                                         "and is left out", field="rejected",
                              fix="Write a worse answer that differs, or remove the row.", **where)]
    return pair, []
