"""Whole answers and streams, both ways, in each dialect.

The cache stores every answer whole (the non-streaming response body). A streamed answer
is collected as it passes (`*Collector`) and stored only once the stream has completed;
a cached answer is replayed to a streaming client as a real event stream in its dialect
(role, text in small deltas, tool calls with their arguments in pieces, the finish
reason, usage when asked for), never as one aggregated chunk.
"""

import json
import re
from collections.abc import Callable, Iterable, Iterator

_PIECE = re.compile(r"\S+\s*|\s+")
WORDS_PER_DELTA = 4
ARGUMENT_CHARS_PER_DELTA = 32


def text_pieces(text: str) -> Iterator[str]:
    words = _PIECE.findall(text)
    for i in range(0, len(words), WORDS_PER_DELTA):
        yield "".join(words[i : i + WORDS_PER_DELTA])


def json_pieces(text: str) -> Iterator[str]:
    for i in range(0, len(text), ARGUMENT_CHARS_PER_DELTA):
        yield text[i : i + ARGUMENT_CHARS_PER_DELTA]


def _sse(data: dict, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


# -- OpenAI ------------------------------------------------------------------------------


def openai_events(response: dict, include_usage: bool) -> Iterator[bytes]:
    base = {
        "id": response.get("id"),
        "object": "chat.completion.chunk",
        "created": response.get("created", 0),
        "model": response.get("model"),
    }
    if response.get("system_fingerprint"):
        base["system_fingerprint"] = response["system_fingerprint"]

    def chunk(index: int, delta: dict, finish_reason=None) -> bytes:
        choice = {"index": index, "delta": delta, "finish_reason": finish_reason}
        return _sse({**base, "choices": [choice]})

    for choice in response.get("choices") or []:
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        yield chunk(index, {"role": message.get("role", "assistant"), "content": ""})
        for piece in text_pieces(message.get("content") or ""):
            yield chunk(index, {"content": piece})
        if message.get("refusal"):
            yield chunk(index, {"refusal": message["refusal"]})
        for n, call in enumerate(message.get("tool_calls") or []):
            function = call.get("function") or {}
            head = {"index": n, "id": call.get("id"), "type": call.get("type", "function")}
            head["function"] = {"name": function.get("name"), "arguments": ""}
            yield chunk(index, {"tool_calls": [head]})
            for piece in json_pieces(function.get("arguments") or ""):
                yield chunk(index, {"tool_calls": [{"index": n, "function": {"arguments": piece}}]})
        yield chunk(index, {}, choice.get("finish_reason") or "stop")
    if include_usage and response.get("usage"):
        yield _sse({**base, "choices": [], "usage": response["usage"]})
    yield b"data: [DONE]\n\n"


class OpenAICollector:
    """Rebuilds a chat.completion from its chunks; `result()` is None unless every
    choice finished."""

    def __init__(self) -> None:
        self.head: dict = {}
        self.choices: dict[int, dict] = {}
        self.usage: dict | None = None

    def feed(self, data: dict) -> None:
        if not self.head and data.get("id"):
            self.head = {k: data.get(k) for k in ("id", "created", "model", "system_fingerprint")}
        if isinstance(data.get("usage"), dict):
            self.usage = data["usage"]
        for choice in data.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            state = self.choices.setdefault(
                choice.get("index", 0),
                {"role": "assistant", "content": [], "refusal": [], "calls": {}, "finish": None},
            )
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                state["content"].append(delta["content"])
            if isinstance(delta.get("refusal"), str):
                state["refusal"].append(delta["refusal"])
            for call in delta.get("tool_calls") or []:
                slot = state["calls"].setdefault(
                    call.get("index", 0), {"id": None, "type": "function", "name": "", "args": []}
                )
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["args"].append(function.get("arguments") or "")
            if choice.get("finish_reason"):
                state["finish"] = choice["finish_reason"]

    def result(self) -> dict | None:
        if not self.choices or any(s["finish"] is None for s in self.choices.values()):
            return None
        choices = []
        for index, s in sorted(self.choices.items()):
            message: dict = {"role": s["role"], "content": "".join(s["content"]) or None}
            if s["refusal"]:
                message["refusal"] = "".join(s["refusal"])
            if s["calls"]:
                message["tool_calls"] = [
                    {
                        "id": c["id"],
                        "type": c["type"],
                        "function": {"name": c["name"], "arguments": "".join(c["args"])},
                    }
                    for _, c in sorted(s["calls"].items())
                ]
            choices.append({"index": index, "message": message, "finish_reason": s["finish"]})
        response = {"object": "chat.completion", **self.head, "choices": choices}
        if self.usage:
            response["usage"] = self.usage
        return {k: v for k, v in response.items() if v is not None}


# -- Anthropic ---------------------------------------------------------------------------


def anthropic_events(message: dict) -> Iterator[bytes]:
    usage = dict(message.get("usage") or {})
    start = {k: v for k, v in message.items() if k not in ("content", "usage")}
    start.update(content=[], stop_reason=None, stop_sequence=None)
    start["usage"] = {**usage, "output_tokens": min(1, usage.get("output_tokens", 0))}
    yield _sse({"type": "message_start", "message": start}, "message_start")
    for index, block in enumerate(message.get("content") or []):
        kind = block.get("type")
        if kind == "text":
            opening, deltas = (
                {"type": "text", "text": ""},
                [{"type": "text_delta", "text": p} for p in text_pieces(block.get("text", ""))],
            )
        elif kind == "tool_use":
            opening = {k: v for k, v in block.items() if k != "input"} | {"input": {}}
            arguments = json.dumps(block.get("input") or {}, separators=(",", ":"))
            deltas = [
                {"type": "input_json_delta", "partial_json": p} for p in json_pieces(arguments)
            ]
        elif kind == "thinking":
            opening = {"type": "thinking", "thinking": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": p}
                for p in text_pieces(block.get("thinking", ""))
            ]
            if block.get("signature"):
                deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:  # a block kind without deltas is sent whole
            opening, deltas = block, []
        yield _sse(
            {"type": "content_block_start", "index": index, "content_block": opening},
            "content_block_start",
        )
        for delta in deltas:
            yield _sse(
                {"type": "content_block_delta", "index": index, "delta": delta},
                "content_block_delta",
            )
        yield _sse({"type": "content_block_stop", "index": index}, "content_block_stop")
    yield _sse(
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": message.get("stop_reason"),
                "stop_sequence": message.get("stop_sequence"),
            },
            "usage": {"output_tokens": usage.get("output_tokens", 0)},
        },
        "message_delta",
    )
    yield _sse({"type": "message_stop"}, "message_stop")


class AnthropicCollector:
    """Rebuilds a message from its events; `result()` is None until message_stop."""

    def __init__(self) -> None:
        self.message: dict | None = None
        self.blocks: dict[int, dict] = {}
        self.partial: dict[int, list[str]] = {}
        self.done = False

    def feed(self, data: dict) -> None:
        kind = data.get("type")
        if kind == "message_start" and isinstance(data.get("message"), dict):
            self.message = dict(data["message"])
            self.message["usage"] = dict(self.message.get("usage") or {})
        elif kind == "content_block_start" and isinstance(data.get("content_block"), dict):
            self.blocks[data.get("index", 0)] = dict(data["content_block"])
        elif kind == "content_block_delta":
            block = self.blocks.get(data.get("index", 0))
            delta = data.get("delta") or {}
            if block is None:
                return
            if delta.get("type") == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
            elif delta.get("type") == "input_json_delta":
                self.partial.setdefault(data.get("index", 0), []).append(
                    delta.get("partial_json", "")
                )
            elif delta.get("type") == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
            elif delta.get("type") == "signature_delta":
                block["signature"] = delta.get("signature", "")
        elif kind == "content_block_stop":
            index = data.get("index", 0)
            if index in self.partial and index in self.blocks:
                raw = "".join(self.partial.pop(index))
                self.blocks[index]["input"] = json.loads(raw) if raw else {}
        elif kind == "message_delta" and self.message is not None:
            self.message.update(data.get("delta") or {})
            self.message["usage"].update(data.get("usage") or {})
        elif kind == "message_stop":
            self.done = True

    def result(self) -> dict | None:
        if not self.done or self.message is None or self.partial:
            return None
        return {**self.message, "content": [b for _, b in sorted(self.blocks.items())]}


# -- OpenAI Responses API ----------------------------------------------------------------


def responses_event_sequence(
    response: dict, split: Callable[[str], Iterable[str]] = text_pieces
) -> list[tuple[str, dict]]:
    """The stream the Responses API sends for `response`: (event type, data) in order,
    each with its sequence number; a message's text in the pieces `split` makes of it,
    a function call's arguments in pieces."""
    sent: list[tuple[str, dict]] = []

    def emit(kind: str, **data) -> None:
        sent.append((kind, {"type": kind, "sequence_number": len(sent), **data}))

    opening = {**response, "status": "in_progress", "output": [], "usage": None}
    emit("response.created", response=opening)
    emit("response.in_progress", response=opening)
    for index, item in enumerate(response.get("output") or []):
        at = {"item_id": item.get("id"), "output_index": index}
        if item.get("type") == "message":
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "content": []})  # fmt: skip
            for n, part in enumerate(item.get("content") or []):
                text = part.get("text") or ""
                emit(
                    "response.content_part.added", **at, content_index=n, part={**part, "text": ""}
                )
                for piece in split(text):
                    emit("response.output_text.delta", **at, content_index=n, delta=piece,
                         logprobs=[])  # fmt: skip
                emit("response.output_text.done", **at, content_index=n, text=text, logprobs=[])
                emit("response.content_part.done", **at, content_index=n, part=part)
        elif item.get("type") == "function_call":
            arguments = item.get("arguments") or ""
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "arguments": ""})  # fmt: skip
            for piece in json_pieces(arguments):
                emit("response.function_call_arguments.delta", **at, delta=piece)
            emit("response.function_call_arguments.done", **at, arguments=arguments)
        else:
            emit("response.output_item.added", output_index=index, item=item)
        emit("response.output_item.done", output_index=index, item=item)
    final = (
        "response.incomplete" if response.get("status") == "incomplete" else "response.completed"
    )
    emit(final, response=response)
    return sent


def responses_events(response: dict) -> Iterator[bytes]:
    for kind, data in responses_event_sequence(response):
        yield _sse(data, kind)


class ResponsesCollector:
    """A Responses stream's answer: the response its final event carries, whole."""

    FINAL = frozenset({"response.completed", "response.incomplete"})

    def __init__(self) -> None:
        self.response: dict | None = None

    def feed(self, data: dict) -> None:
        if data.get("type") in self.FINAL and isinstance(data.get("response"), dict):
            self.response = data["response"]

    def result(self) -> dict | None:
        return self.response
