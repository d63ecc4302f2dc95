"""What a model's chat template says about turns: the text around each role's message and the tokens that
end an assistant's answer, found by rendering the template around marker strings (no MLX needed).

One place decides the stop tokens that generate, chat, eval, serve and the Ollama Modelfile all use.
"""

SYSTEM, USER, ANSWER, AGAIN = "\u27e6SYSTEM\u27e7", "\u27e6USER\u27e7", "\u27e6ANSWER\u27e7", "\u27e6AGAIN\u27e7"


def render(tokenizer, messages: list[dict], generation: bool) -> str:
    """The chat as text, without the BOS token (llama.cpp and Ollama add it themselves)."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=generation, tokenize=False)
    bos = tokenizer.bos_token or ""
    return text[len(bos):] if bos and text.startswith(bos) else text


def try_render(tokenizer, messages: list[dict], generation: bool) -> str | None:
    """`render`, or None for a chat the template refuses (many refuse system messages, for example)."""
    try:
        return render(tokenizer, messages, generation)
    except Exception:  # templates raise whatever their authors chose (TemplateError, ValueError, ...)
        return None


def answer_end(tokenizer) -> str:
    """The text the template writes right after an assistant's answer ('' when it writes none)."""
    if not getattr(tokenizer, "chat_template", None):
        return ""
    answered = try_render(tokenizer, [{"role": "user", "content": USER}, {"role": "assistant", "content": ANSWER}],
                          False)
    if not answered or ANSWER not in answered:
        return ""
    return answered.split(ANSWER, 1)[1]


def _special_ids(tokenizer) -> set[int]:
    hf = getattr(tokenizer, "_tokenizer", tokenizer)
    ids = set(getattr(hf, "all_special_ids", []) or [])
    ids.update(getattr(hf, "added_tokens_decoder", {}) or {})
    return ids


def end_of_turn_tokens(tokenizer) -> list[str]:
    """The tokens that end an assistant's turn: the end-of-text token and the special token the chat template
    writes right after an answer (`<|eot_id|>`, `<|im_end|>`, `<|end|>`, `<end_of_turn>`, ...)."""
    found = [tokenizer.eos_token] if getattr(tokenizer, "eos_token", None) else []
    after = answer_end(tokenizer).lstrip(" ")
    if after:
        first = tokenizer.encode(after, add_special_tokens=False)[:1]
        if first and first[0] in _special_ids(tokenizer):
            found.append(tokenizer.convert_ids_to_tokens(first[0]))
    return list(dict.fromkeys(found))


def add_stop_tokens(tokenizer) -> None:
    """Make an mlx-lm tokenizer stop at every end-of-turn token of its template, not only at its EOS."""
    for token in end_of_turn_tokens(tokenizer):
        tokenizer.add_eos_token(token)
