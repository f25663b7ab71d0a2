"""What the mock provider answers: a deterministic stand-in for a model, good enough for
real clients (Claude Code, Codex, the SDKs' tool loops) to finish their work on it.

The rules, the same in both wire formats:
- After a tool result, it answers in text, quoting the result, and ends its turn.
- It calls a tool only when told to: `tool_choice` forces one (OpenAI `required` or a
  named function; Anthropic `any` or a named tool), or the last user message asks for
  one by name ("use the get_weather tool …", "call Bash: ls"). The call's input is valid
  for the tool's schema (schema_instance.py), its first string the text after the
  prompt's first colon; the call's id is new for each conversation.
- Asked for structured output (OpenAI `response_format`, Anthropic `output_format` or
  `output_config.format`), it answers JSON that fits the schema.
- Otherwise it answers "[mock <model>] You said: <the start of the last user text>".
A schema it cannot satisfy is the caller's 400, as a provider answers one it cannot use.
"""

import hashlib
import json
import re
from dataclasses import dataclass

from api.schema_instance import instance

ASKS_FOR_A_TOOL = re.compile(r"\b(use|call|run|invoke|with)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Turn:
    """The model's turn: text, or a call of one tool (name, input, id)."""

    text: str | None = None
    tool_name: str | None = None
    tool_input: dict | None = None
    tool_id: str | None = None


@dataclass(frozen=True)
class Tool:
    name: str
    schema: dict


def digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def quoted(text: str, length: int = 60) -> str:
    return " ".join(text.split())[:length]


def text_of(content) -> str:
    """The text of a message's content: a string, or its last text part."""
    if isinstance(content, str):
        return content
    texts = [p.get("text") for p in content or () if isinstance(p, dict)]
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    return texts[-1] if texts else ""


def last_user_text(turns: list[dict]) -> str:
    return next((text_of(m.get("content")) for m in reversed(turns) if m.get("role") == "user"), "")


def answer(model: str, prompt: str, conversation) -> str:
    return f"[mock {model}] You said: {quoted(prompt)} (answer {digest(model, conversation)[:8]})"


def after_tool(model: str, tool: str, result: str, conversation) -> str:
    return (
        f"[mock {model}] The {tool} tool returned: {quoted(result) or '(nothing)'} "
        f"(answer {digest(model, conversation)[:8]})"
    )


def chosen_tool(tools: list[Tool], prompt: str, forced: str | bool | None) -> Tool | None:
    """The tool to call: the one `forced` names, the one the prompt asks for (by name,
    with a word like use or call), or with `forced` True any tool — the one the prompt
    names, else the first."""
    if not tools or forced is False:
        return None
    if isinstance(forced, str):
        return next((t for t in tools if t.name == forced), None)
    named = [t for t in tools if re.search(rf"\b{re.escape(t.name)}\b", prompt, re.IGNORECASE)]
    if named and (forced or ASKS_FOR_A_TOOL.search(prompt)):
        return named[0]
    return tools[0] if forced else None


def call(tool: Tool, prompt: str, conversation, prefix: str) -> Turn:
    _, colon, rest = prompt.partition(":")
    arguments = instance(tool.schema, rest.strip() if colon and rest.strip() else "mock")
    if not isinstance(arguments, dict):
        arguments = {"value": arguments}
    return Turn(
        tool_name=tool.name,
        tool_input=arguments,
        tool_id=prefix + digest(conversation, tool.name)[:24],
    )


def structured(schema, text: str) -> str:
    return json.dumps(instance(schema, text) if schema is not None else {"answer": text})


# -- OpenAI chat completions -----------------------------------------------------------


def offered_tools(body: dict) -> list:
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise ValueError("tools: must be an array of objects")
    return tools


def openai_turn(body: dict) -> Turn:
    model, messages = body["model"], body["messages"]
    turns = [m for m in messages if m.get("role") not in ("system", "developer")]
    last = turns[-1] if turns else messages[-1]
    if last.get("role") == "tool":
        name = tool_call_name(messages, last.get("tool_call_id")) or "function"
        return Turn(text=after_tool(model, name, text_of(last.get("content")), messages))
    prompt = last_user_text(turns)
    tools = [
        Tool(f["name"], f.get("parameters") or {})
        for t in offered_tools(body)
        if isinstance(f := t.get("function"), dict) and f.get("name")
    ]
    if tool := chosen_tool(tools, prompt, openai_forced(body.get("tool_choice"))):
        return call(tool, prompt, messages, "call_")
    text = answer(model, prompt, messages)
    response_format = body.get("response_format")
    if response_format is not None and not isinstance(response_format, dict):
        raise ValueError("response_format: must be an object")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        return Turn(text=structured((response_format.get("json_schema") or {}).get("schema"), text))
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        return Turn(text=structured(None, text))
    return Turn(text=text)


def openai_forced(choice) -> str | bool | None:
    """What tool_choice says: False none, True any ("required"), a name, None: auto."""
    if choice == "none":
        return False
    if choice == "required":
        return True
    if isinstance(choice, dict):
        return (choice.get("function") or {}).get("name")
    return None


def tool_call_name(messages: list, call_id) -> str | None:
    for message in messages:
        for call_ in message.get("tool_calls") or ():
            if isinstance(call_, dict) and call_.get("id") == call_id:
                return (call_.get("function") or {}).get("name")
    return None


# -- Anthropic messages ----------------------------------------------------------------


def anthropic_turn(body: dict) -> Turn:
    model, messages = body["model"], body["messages"]
    turns = [m for m in messages if m.get("role") in ("user", "assistant")]
    last = turns[-1] if turns else messages[-1]
    content = last.get("content")
    blocks = content if isinstance(content, list) else []
    results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
    if last.get("role") == "user" and results:
        name = tool_use_name(messages, results[-1].get("tool_use_id")) or "tool"
        return Turn(text=after_tool(model, name, text_of(results[-1].get("content")), messages))
    prompt = last_user_text(turns)
    tools = [  # the caller's own tools (server tools have no input_schema: not the mock's)
        Tool(t["name"], t.get("input_schema") or {})
        for t in offered_tools(body)
        if t.get("name") and "input_schema" in t
    ]
    if tool := chosen_tool(tools, prompt, anthropic_forced(body.get("tool_choice"))):
        return call(tool, prompt, messages, "toolu_")
    text = answer(model, prompt, messages)
    output_format = body.get("output_format") or (body.get("output_config") or {}).get("format")
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        return Turn(text=structured(output_format.get("schema"), text))
    return Turn(text=text)


def anthropic_forced(choice) -> str | bool | None:
    """What tool_choice says: False none, True any, a name, None: auto."""
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "none":
        return False
    if kind == "any":
        return True
    return choice.get("name") if kind == "tool" else None


def tool_use_name(messages: list, tool_use_id) -> str | None:
    for message in messages:
        content = message.get("content")
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict) and block.get("id") == tool_use_id:
                return block.get("name")
    return None
