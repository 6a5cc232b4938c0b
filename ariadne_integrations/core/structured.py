"""Structured answers for every wrapper: check that a schema-constrained answer is complete JSON, and
the one format of a forced tool call.

Why here: ``ChatAriadne.with_structured_output`` / ``bind_tools``, ``AriadneLLM`` and
``AriadneLlamaLLM.structured_predict`` must agree on when a structured answer is an error (cut by the
token limit, or not JSON at all) and on how a tool call is written, whichever framework asked.

Decoding itself happens in the backend: the local runtime constrains each row of the mixed-adapter
batch to its schema (``runtime/constrained.py``); an OpenAI-compatible server gets ``response_format``.
Nothing here imports a framework or torch.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ariadne_integrations.errors import InvalidInputError, StructuredOutputError
from ariadne_integrations.runtime.generation import GenerationConfig, schema_text

__all__ = [
    "parse_structured",
    "schema_text",
    "ToolSpec",
    "ToolPlan",
    "tool_plan",
    "normalize_tool_choice",
    "TOOL_CHOICE_HELP",
]

TOOL_CHOICE_HELP = (
    "supported: tool_choice=<tool name> (or {'type': 'function', 'function': {'name': ...}}) to force that tool, "
    "'any' / 'required' / True to force a call to one of the bound tools (decoding is constrained to their "
    "argument schemas), or 'none' / False for no tool call. Free choice (tool_choice=None or 'auto': the model "
    "decides whether to call a tool) is not supported: the local backbone only calls tools under constrained decoding"
)


def parse_structured(text: str, finish_reason: str | None, config: GenerationConfig) -> Any:
    """The JSON value of a structured answer.

    Raises :class:`StructuredOutputError` when the answer was cut by ``max_new_tokens`` before its JSON
    was complete (the message says to raise it), or when it is not JSON (a server that ignored the
    schema). A structured answer is never handed on as unparsable text.
    """
    if finish_reason == "length":
        raise StructuredOutputError(
            f"the structured answer was cut at max_new_tokens={config.max_new_tokens} before its JSON was complete "
            f"({text[-60:]!r} at the end); raise max_new_tokens (max_tokens=) for this call, or bound the schema's "
            f"strings (maxLength / max_length)"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StructuredOutputError(
            f"the structured answer is not valid JSON ({exc}): {text[:80]!r}; the backend did not constrain decoding "
            f"(an OpenAI-compatible server must support response_format json_schema)"
        ) from None


# --------------------------------------------------------------------------- forced tool calls
@dataclass(frozen=True)
class ToolSpec:
    """One tool as the model sees it: name, description, JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]

    @classmethod
    def from_openai(cls, tool: Mapping[str, Any]) -> ToolSpec:
        """From the OpenAI tool format (``{"type": "function", "function": {...}}``) or its inner dict."""
        fn = tool.get("function", tool)
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"a tool needs a name, got {dict(tool)!r:.120}")
        params = dict(fn.get("parameters") or {})
        params.setdefault("type", "object")
        params.setdefault("properties", {})
        return cls(name=name, description=str(fn.get("description") or ""), parameters=params)


def normalize_tool_choice(choice: Any, names: Sequence[str]) -> str:
    """A tool name, ``"any"`` or ``"none"``; NotImplementedError for free choice, InvalidInputError for
    a name that is not bound."""
    if isinstance(choice, Mapping):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else choice.get("name")
        if not isinstance(name, str):
            raise InvalidInputError(f"tool_choice {dict(choice)!r} names no tool; {TOOL_CHOICE_HELP}")
        choice = name
    if choice is True or choice in ("any", "required"):
        return "any"
    if choice is False or choice == "none":
        return "none"
    if choice is None or choice == "auto":
        raise NotImplementedError(f"tool_choice={choice!r} is not supported; {TOOL_CHOICE_HELP}")
    if isinstance(choice, str):
        if choice not in names:
            raise InvalidInputError(f"tool_choice={choice!r} is not one of the bound tools {list(names)}; {TOOL_CHOICE_HELP}")
        return choice
    raise InvalidInputError(f"tool_choice must be a tool name, 'any', 'required', 'none' or a bool, got {choice!r}; "
                            f"{TOOL_CHOICE_HELP}")


@dataclass(frozen=True)
class ToolPlan:
    """A forced tool call: the schema decoding is constrained to, and how to read the answer back.

    With one candidate tool the answer is that tool's arguments object; with several it is
    ``{"name": <tool>, "arguments": {...}}``, constrained to an ``anyOf`` of the candidates.
    """

    tools: tuple[ToolSpec, ...]
    choice: str

    @property
    def candidates(self) -> tuple[ToolSpec, ...]:
        if self.choice == "any":
            return self.tools
        return tuple(t for t in self.tools if t.name == self.choice)[:1]

    @property
    def schema(self) -> dict[str, Any]:
        cands = self.candidates
        if len(cands) == 1:
            return cands[0].parameters
        variants = []
        for t in dict((t.name, t) for t in cands).values():  # one variant per name
            variants.append({
                "type": "object",
                "properties": {"name": {"type": "string", "enum": [t.name]}, "arguments": t.parameters},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            })
        return {"anyOf": variants}

    def read(self, value: Any) -> tuple[str, dict[str, Any]]:
        """(tool name, arguments) from the parsed answer."""
        cands = self.candidates
        name: Any = None
        args: Any = None
        if len(cands) == 1:
            name, args = cands[0].name, value
        elif isinstance(value, Mapping):
            name, args = value.get("name"), value.get("arguments")
        if not isinstance(name, str) or not isinstance(args, Mapping):
            raise StructuredOutputError(f"the answer is not a call of one of the tools {[t.name for t in cands]}: {value!r:.120}")
        return name, dict(args)


def tool_plan(tools: Any, tool_choice: Any) -> ToolPlan | None:
    """The forced call for bound ``tools`` (OpenAI format) and ``tool_choice``; None for ``"none"``."""
    if not tools:
        return None
    specs = tuple(ToolSpec.from_openai(t) for t in tools)
    choice = normalize_tool_choice(tool_choice, [t.name for t in specs])
    if choice == "none":
        return None
    return ToolPlan(specs, choice)

