"""Guardrails on the hot path: each team's rules, compiled once and kept in the process,
and where they read and rewrite the three dialects' requests, answers and streams.

The rules (api.gateway_guardrails: every enabled rule, global and per team) are loaded at
start and again whenever the database says they changed (api.set_guardrail and
api.delete_guardrail notify the principals' channel with 'guardrails') or the channel
came back after a loss. A team with rules of its own gets a rule set of the global rules
and its own; every other team shares the global one. Judging a request is then a dict
lookup and RE2 searches: no database round trip.

What is read, in every dialect: the text of messages (strings and text parts), the
system prompt, instructions, and tool results (Anthropic tool_result content, OpenAI
tool messages, Responses function_call_output); embeddings' input. Tool-call arguments,
images and files are not read. An answer's text is read the same way: message content,
text blocks, output_text parts.
"""

import abc
import json
import logging

import asyncpg

from api.gateway.errors import GatewayError
from api.gateway.reloading import Reloading
from api.guardrails.rules import EMPTY, Rule, RuleSet, StageRules, compile_rule, strongest
from api.guardrails.stream import Blocked, StreamScanner

log = logging.getLogger("aigw.gateway.guardrails")

# Keys whose values are text a model reads (or wrote): message content, a part's text,
# a tool result's output. Everything else (images, tool inputs, ids) is left alone.
TEXT_KEYS = ("content", "text", "output")
NO_RULES = RuleSet()


class Guardrails(Reloading):
    what = "guardrails"
    log = log

    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool
        self.global_rules: RuleSet = NO_RULES
        self.by_team: dict[str, RuleSet] = {}

    def for_team(self, team_id: str) -> RuleSet:
        return self.by_team.get(team_id, self.global_rules)

    async def load(self) -> None:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("select * from api.gateway_guardrails()")
        self.install([dict(r) for r in rows])

    def install(self, rows: list[dict]) -> None:
        """Compile rows (in api.gateway_guardrails' order) into the rule sets, and swap
        them in at once: a request is judged by the old rules or the new, never a mix."""
        rules = [compile_rule(row) for row in rows]
        for rule in rules:
            if rule.broken:
                log.error(
                    "guardrail %s (%s) cannot be compiled, so what it covers is refused: %s",
                    rule.name,
                    rule.team_id or "global",
                    rule.broken,
                )
        shared = [r for r in rules if r.team_id is None]
        teams: dict[str, list[Rule]] = {}
        for rule in rules:
            if rule.team_id is not None:
                teams.setdefault(rule.team_id, []).append(rule)
        self.global_rules = RuleSet.of(shared)
        self.by_team = {team: RuleSet.of([*shared, *own]) for team, own in teams.items()}


# -- the verdict as the caller and the event log see it ---------------------------------


def blocked(rule: Rule, stage: str) -> GatewayError:
    what = "request" if stage == "input" else "answer"
    if rule.broken:
        message = (
            f"This {what} was refused by guardrail rule {rule.name}: the rule cannot be "
            f"compiled ({rule.broken}), so nothing it covers is let through unchecked. "
            "Ask an admin to fix the rule."
        )
    else:
        scope = "your team's" if rule.team_id else "a global"
        then = (
            "Remove what the rule matches and try again"
            if stage == "input"
            else "It was not sent to you; rephrase the request"
        )
        message = (
            f"This {what} was blocked by guardrail rule {rule.name} ({scope} {rule.kind} "
            f"rule, {rule.stage} stage). {then}; an admin can tell you what the rule covers."
        )
    return GatewayError(
        400, message, "invalid_request_error", "invalid_request_error", "guardrail_blocked"
    )


def event_fields(verdicts: list[dict]) -> tuple[str | None, str | None]:
    """(guardrail_action, guardrail_verdicts) of a request's event."""
    if not verdicts:
        return None, None
    return strongest(verdicts), json.dumps(verdicts, separators=(",", ":"))


# -- texts in requests and answers ------------------------------------------------------


def text_slots(root, keys: tuple[str, ...] = ()) -> list[tuple[object, object]]:
    """Where the texts are: (container, key) pairs, container[key] a str. With `keys`,
    `root` is a request body and those are its fields to read (system, messages, …)."""
    found: list[tuple[object, object]] = []
    stack = []
    for key in keys:
        value = root.get(key)
        if isinstance(value, str):
            found.append((root, key))
        elif isinstance(value, list | dict):
            stack.append(value)
    if not keys:
        stack.append(root)
    while stack:  # no recursion: however deep a body nests, this walks it
        node = stack.pop()
        if isinstance(node, dict):
            for key in TEXT_KEYS:
                value = node.get(key)
                if isinstance(value, str):
                    found.append((node, key))
                elif isinstance(value, list | dict):
                    stack.append(value)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    found.append((node, index))
                elif isinstance(item, list | dict):
                    stack.append(item)
    return found


def answer_slots(answer: dict, dialect: str) -> list[tuple[object, object]]:
    """The texts of a whole answer: chat choices' content, Anthropic text blocks,
    Responses output_text parts."""
    found: list[tuple[object, object]] = []
    if dialect == "responses":
        for item in answer.get("output") or ():
            if isinstance(item, dict) and isinstance(item.get("content"), list):
                for part in item["content"]:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        found.append((part, "text"))
    elif dialect == "openai":
        for choice in answer.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                found.append((message, "content"))
    else:
        for block in answer.get("content") or ():
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                found.append((block, "text"))
    return found


def judge_slots(stage: StageRules, slots, input_tokens: int = 0):
    """Judge the texts at `slots` and write back what was redacted; the judgement."""
    judgement = stage.judge([c[k] for c, k in slots], input_tokens)
    if judgement.texts is not None:
        for (container, key), text in zip(slots, judgement.texts, strict=True):
            container[key] = text
    return judgement


# -- streams, in each dialect -----------------------------------------------------------


def sse(data: dict, named: bool) -> bytes:
    encoded = json.dumps(data, separators=(",", ":"))
    return (f"event: {data.get('type')}\n" if named else "").encode() + (
        b"data: " + encoded.encode() + b"\n\n"
    )


class StreamGuard(abc.ABC):
    """A stream's output rules: `event(data)` takes each event of the provider's stream
    and returns None (send it as it came) or the events to send instead (none, it, or
    held text first); `close()` the events that send what is still held; Blocked is
    raised when a rule blocks, and `error(rule)` is what the caller gets then."""

    named = True  # events carry an `event:` line (Anthropic, Responses)

    def __init__(self, stage: StageRules):
        self.scanner = StreamScanner(stage)

    @abc.abstractmethod
    def event(self, data: dict) -> list[dict] | None: ...

    def close(self) -> list[dict]:
        return []

    def encode(self, data: dict) -> bytes:
        return sse(data, self.named)

    @abc.abstractmethod
    def error(self, rule: Rule) -> bytes: ...


class ChatStreamGuard(StreamGuard):
    """OpenAI chat completions: choices' delta.content, one channel per choice; held text
    goes out with the choice's finishing chunk."""

    named = False

    def __init__(self, stage: StageRules):
        super().__init__(stage)
        self._envelope: dict = {}

    def event(self, data: dict) -> list[dict] | None:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            return None
        self._envelope = {k: data[k] for k in ("id", "object", "created", "model") if k in data}
        changed = False
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            delta = choice.get("delta")
            text = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(text, str) and text:
                out = self.scanner.feed(index, text)
                if out != text:
                    delta["content"], changed = out, True
            if choice.get("finish_reason") is not None and (rest := self.scanner.flush(index)):
                if not isinstance(delta, dict):
                    delta = choice["delta"] = {}
                delta["content"], changed = (delta.get("content") or "") + rest, True
        return [data] if changed else None

    def close(self) -> list[dict]:
        return [
            {
                **self._envelope,
                "choices": [{"index": index, "delta": {"content": rest}, "finish_reason": None}],
            }
            for index in self.scanner.open_channels()
            if (rest := self.scanner.flush(index))
        ]

    def error(self, rule: Rule) -> bytes:
        error = blocked(rule, "output")
        body = {"message": error.message, "type": error.openai_type, "param": None,
                "code": error.code}  # fmt: skip
        return self.encode({"error": body})


class MessagesStreamGuard(StreamGuard):
    """Anthropic messages: text_delta of each content block; held text goes out before
    the block's content_block_stop."""

    def event(self, data: dict) -> list[dict] | None:
        kind = data.get("type")
        if kind == "content_block_delta":
            delta = data.get("delta")
            if not isinstance(delta, dict) or delta.get("type") != "text_delta":
                return None
            text = delta.get("text")
            if not isinstance(text, str) or not text:
                return None
            out = self.scanner.feed(data.get("index", 0), text)
            if out == text:
                return None
            delta["text"] = out
            return [data] if out else []
        if kind == "content_block_stop":
            index = data.get("index", 0)
            if rest := self.scanner.flush(index):
                return [self._delta(index, rest), data]
        return None

    @staticmethod
    def _delta(index, text: str) -> dict:
        return {"type": "content_block_delta", "index": index,
                "delta": {"type": "text_delta", "text": text}}  # fmt: skip

    def close(self) -> list[dict]:
        return [
            self._delta(index, rest)
            for index in self.scanner.open_channels()
            if (rest := self.scanner.flush(index))
        ]

    def error(self, rule: Rule) -> bytes:
        error = blocked(rule, "output")
        return self.encode(
            {"type": "error", "error": {"type": error.anthropic_type, "message": error.message}}
        )


class ResponsesStreamGuard(StreamGuard):
    """The Responses API: output_text.delta per (item, part); held text goes out before
    the part's output_text.done, and the events that repeat the whole text (the part's,
    the item's, the final response's) carry what was sent."""

    def __init__(self, stage: StageRules):
        super().__init__(stage)
        self._sequence = 0

    def event(self, data: dict) -> list[dict] | None:
        kind = data.get("type")
        if isinstance(data.get("sequence_number"), int):
            self._sequence = data["sequence_number"]
        if kind == "response.output_text.delta":
            text = data.get("delta")
            if not isinstance(text, str) or not text:
                return None
            out = self.scanner.feed(self._channel(data), text)
            if out == text:
                return None
            data["delta"] = out
            return [data]
        if kind == "response.output_text.done":
            channel = self._channel(data)
            events = []
            if rest := self.scanner.flush(channel):
                events.append(
                    {
                        "type": "response.output_text.delta",
                        "item_id": data.get("item_id"),
                        "output_index": data.get("output_index", 0),
                        "content_index": data.get("content_index", 0),
                        "delta": rest,
                        "logprobs": [],
                        "sequence_number": data.get("sequence_number"),
                    }
                )
            if isinstance(data.get("text"), str):
                data["text"] = self._final(channel, data["text"])
            return [*events, data]
        if kind == "response.content_part.done" and isinstance(part := data.get("part"), dict):
            self._settle_part(data.get("item_id"), data.get("content_index", 0), part)
            return [data]
        if kind == "response.output_item.done" and isinstance(item := data.get("item"), dict):
            self._settle_item(item)
            return [data]
        if (
            isinstance(response := data.get("response"), dict)
            and isinstance(output := response.get("output"), list)
            and output
        ):
            for item in output:
                if isinstance(item, dict):
                    self._settle_item(item)
            return [data]
        return None

    @staticmethod
    def _channel(data: dict):
        return (data.get("item_id"), data.get("content_index", 0))

    def _final(self, channel, text: str) -> str:
        """The whole text of a part, as it was sent (or, for a part that came whole,
        judged now)."""
        sent = self.scanner.text_of(channel)
        if sent is not None:
            return sent
        judged = self.scanner.stage.judge([text])
        if judged.blocked is not None:
            raise Blocked(judged.blocked)
        for verdict in judged.verdicts:
            self.scanner.verdicts.setdefault(verdict["rule_id"], verdict)
        return judged.texts[0] if judged.texts else text

    def _settle_part(self, item_id, index, part: dict) -> None:
        if isinstance(part.get("text"), str):
            part["text"] = self._final((item_id, index), part["text"])

    def _settle_item(self, item: dict) -> None:
        content = item.get("content")
        for index, part in enumerate(content if isinstance(content, list) else ()):
            if isinstance(part, dict):
                self._settle_part(item.get("id"), index, part)

    def error(self, rule: Rule) -> bytes:
        error = blocked(rule, "output")
        return self.encode(
            {
                "type": "error",
                "code": error.code,
                "message": error.message,
                "param": None,
                "sequence_number": self._sequence + 1,
            }
        )


def stream_guard(stage: StageRules, dialect: str) -> StreamGuard | None:
    if stage is EMPTY or not stage.rules:
        return None
    if dialect == "responses":
        return ResponsesStreamGuard(stage)
    return ChatStreamGuard(stage) if dialect == "openai" else MessagesStreamGuard(stage)
