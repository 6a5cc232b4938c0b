"""What a prompt may be, what it is routed on, and the one conversion of chat messages.

Both integrations hand the core plain ``{"role", "content"}`` dicts; the role names of each
framework are mapped here, so a tool result or a developer message reads the same to the backbone
whichever framework sent it.
"""
from __future__ import annotations

from typing import Any, Iterable

from ariadne_integrations.errors import InvalidInputError
from ariadne_integrations.routing.embedders import check_text
from ariadne_integrations.runtime.generation import Message, Prompt

__all__ = ["validate_prompt", "route_text_of", "chat_message", "check_stop", "check_route_text", "joined", "TOOL_ROLES", "ROUTE_ON"]

_ROLES = {
    "system": "system", "developer": "system",
    "user": "user", "human": "user",
    "assistant": "assistant", "ai": "assistant", "chatbot": "assistant", "model": "assistant",
}
TOOL_ROLES = frozenset({"tool", "function"})
"""Roles whose content is a tool's result; SmolLM2-class chat templates have no tool role."""


def chat_message(role: str, content: str, name: str | None = None) -> Message:
    """One framework message as ``{"role", "content"}`` for the backbone's chat template.

    Known roles map to system / user / assistant; a tool or function result becomes a user turn
    that says which tool it came from; any other role is a user turn.
    """
    role = str(role).lower()
    if role in TOOL_ROLES:
        return {"role": "user", "content": f"Result of {name or 'the tool'}: {content}"}
    return {"role": _ROLES.get(role, "user"), "content": content}


def validate_prompt(prompt: Any, index: int | None = None) -> Prompt:
    """Check one prompt (a non-empty string, or a non-empty list of role/content dicts).

    Wrappers validate each prompt of a batch on its own, so a failure names that prompt only.
    """
    where = "prompt" if index is None else f"prompts[{index}]"
    if isinstance(prompt, str):
        if not prompt.strip():
            raise InvalidInputError(f"{where} is empty or whitespace only; give the text to answer")
        return check_text(prompt, where)  # no lone surrogates: tokenizers fail on them with a bare TypeError
    if isinstance(prompt, (list, tuple)):
        if not prompt:
            raise InvalidInputError(f"{where} is an empty message list; give at least one message")
        for j, m in enumerate(prompt):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                raise InvalidInputError(f"{where}[{j}] must be a dict with string 'role' and 'content', got {m!r:.80}")
        if not any(m["content"].strip() for m in prompt):
            raise InvalidInputError(f"{where}: every message is empty; give the text to answer")
        for j, m in enumerate(prompt):
            if m["content"].strip():
                check_text(m["content"], f"{where}[{j}]['content']")
        return list(prompt)
    raise InvalidInputError(f"{where} must be a string or a list of chat messages, got {type(prompt).__name__}")


ROUTE_ON = ("last_user", "all_user", "all")
"""What a conversation is routed on: the last user message (default), all user messages, every message."""


def route_text_of(prompt: Prompt, on: str = "last_user") -> str:
    """The text a prompt is routed on: the string itself, or (for messages) as ``on`` says.

    By default the last user message: it is the request; system prompts and earlier turns would blur
    it. Without any user message, every non-empty message is used.
    """
    if isinstance(prompt, str):
        return prompt
    if on not in ROUTE_ON:
        raise InvalidInputError(f"route on must be one of {ROUTE_ON}, got {on!r}")
    users = [m["content"] for m in prompt if m.get("role") == "user" and m["content"].strip()]
    if users and on == "last_user":
        return users[-1]
    if users and on == "all_user":
        return joined(users)
    return joined(m["content"] for m in prompt)


def check_stop(stop: Any, where: str = "stop") -> tuple[str, ...]:
    """A stop list must be a list of non-empty strings (an empty string would stop before any text)."""
    if stop is None:
        return ()
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, (list, tuple)):
        raise InvalidInputError(f"{where} must be a list of strings, got {type(stop).__name__}")
    for i, s in enumerate(stop):
        if not isinstance(s, str) or s == "":
            raise InvalidInputError(
                f"{where}[{i}] is {s!r}: stop sequences must be non-empty strings (an empty one would stop at once); "
                f"remove it"
            )
    return tuple(stop)


def check_route_text(text: Any, what: str) -> str:
    """A custom routing function must return non-empty text."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{what} returned {text!r}; it must return non-empty text")
    return text


def joined(texts: Iterable[str]) -> str:
    """Non-empty texts joined by newlines (routing on several messages at once)."""
    return "\n".join(t for t in texts if t.strip())
