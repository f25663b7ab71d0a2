"""The OpenAI Responses API's wire format for the mock provider: a Responses request read
as the chat conversation the mock model answers (mock_model.py), and its answer written
back as a response object or as the stream of events the API sends.
"""

import json
import os
import time

from api.mock_model import Turn


def text_of_parts(content) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ValueError("content: must be a string or an array of parts")
    return "\n".join(
        p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
    )


def as_chat(body: dict) -> dict:
    """The Responses request as a chat completion request: instructions and input items
    as messages, function calls and their outputs as tool turns, tools and tool_choice
    and text.format in chat's shapes."""
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise ValueError("input: must be a string or a non-empty array of items")
    messages = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"input[{i}]: must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            if not isinstance(item.get("role"), str):
                raise ValueError(f"input[{i}].role: must be a string")
            messages.append({"role": item["role"], "content": text_of_parts(item.get("content"))})
        elif kind == "function_call":
            call = {"name": item.get("name"), "arguments": item.get("arguments", "")}
            tool_call = {"id": item.get("call_id"), "type": "function", "function": call}
            messages.append({"role": "assistant", "content": None, "tool_calls": [tool_call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id"),
                    "content": text_of_parts(output),
                }
            )
        # reasoning and other items carry nothing the mock answers from
    if not any(m["role"] != "system" for m in messages):
        raise ValueError("input: has no message to answer")
    tools = [
        {
            "type": "function",
            "function": {"name": t["name"], "parameters": t.get("parameters") or {}},
        }
        for t in body.get("tools") or ()
        if isinstance(t, dict) and t.get("type") == "function" and t.get("name")
    ]
    chat = {"model": body["model"], "messages": messages, "tools": tools}
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice in ("none", "required", "auto"):
        chat["tool_choice"] = choice
    form = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(form, dict) and form.get("type") == "json_schema":
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"schema": form.get("schema")},
        }
    elif isinstance(form, dict) and form.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    return chat


def new_id(prefix: str) -> str:
    return prefix + os.urandom(16).hex()


def output_items(turn: Turn, text: str | None) -> list[dict]:
    if turn.tool_name:
        return [
            {
                "type": "function_call",
                "id": new_id("fc_"),
                "call_id": turn.tool_id,
                "name": turn.tool_name,
                "arguments": json.dumps(turn.tool_input),
                "status": "completed",
            }
        ]
    return [
        {
            "type": "message",
            "id": new_id("msg_"),
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
    ]


def response_object(body: dict, output: list[dict], usage: dict, cut: bool) -> dict:
    return {
        "id": new_id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete" if cut else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "error": None,
        "model": body["model"],
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "store": body.get("store", True),
        "temperature": body.get("temperature"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p"),
        "truncation": "disabled",
        "metadata": body.get("metadata") or {},
        "usage": usage,
    }


def usage_of(input_tokens: int, cached: int, output_tokens: int) -> dict:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }
