"""The accounting hook: one event per request, rejected ones included.

The gateway hands each event to an `EventSink` and never waits on it. In service that is
the durable, batched writer into events.requests (api/events/writer.py); `MemorySink`
keeps the last events in memory, for tests and inspection — never with a key or a prompt
in it.
"""

import logging
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("aigw.gateway.events")

# Control characters (NUL above all: PostgreSQL text cannot hold it; C1 controls come from
# header bytes read as Latin-1) and lone UTF-16 surrogates (not text at all: they cannot
# be encoded as UTF-8, nor stored as jsonb).
UNRECORDABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_TEXT_CHARS = 256  # a model name, a session id or a client's name is far shorter


def clean_text(value: str | None, limit: int = MAX_TEXT_CHARS) -> str | None:
    """A caller's text as an event records it: at most `limit` characters, control
    characters and lone surrogates replaced by U+FFFD. Applied where the text is
    captured, so that nothing a request carries can make its event unrecordable (an
    event refused by the log is a request never billed)."""
    if value is None:
        return None
    if len(value) > limit:
        value = value[:limit]
    if value.isprintable():  # the common case, checked in C
        return value
    return UNRECORDABLE.sub("\ufffd", value)


@dataclass
class RequestEvent:
    request_id: str
    endpoint: str  # e.g. "/v1/chat/completions"
    wire: str  # the caller's dialect: openai | anthropic
    status: int
    started_at: float  # unix time
    key_id: str | None = None
    team_id: str | None = None
    owner_user_id: str | None = None
    service_account_id: str | None = None
    model_requested: str | None = None
    model_served: str | None = None
    deployment: str | None = None
    path: str | None = None  # native | litellm
    stream: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: float = 0.0
    upstream_latency_ms: float | None = None
    upstream_attempts: int = 0
    error_type: str | None = None
    session_id: str | None = None
    client: str | None = None  # from the User-Agent: claude-cli, codex, openai-python, …
    tool_calls: int = 0
    client_disconnected: bool = False
    # hit-exact | hit-semantic | miss | bypass; None where no cache applies. A hit costs
    # nothing at the provider: its tokens are 0 and what it saved is the original answer's
    # tokens (priced as events.requests.saved_usd and in cache.team_daily_stats).
    cache: str | None = None
    saved_input_tokens: int = 0
    saved_output_tokens: int = 0
    # What the guardrails decided: the strongest action taken (block | redact | flag),
    # and every rule that matched as a JSON array (api/guardrails/rules.py Rule.verdict).
    guardrail_action: str | None = None
    guardrail_verdicts: str | None = None
    # What session classification and per-PR cost need (api/gateway/signals.py): messages
    # in the request, whether its last turn is a tool result, tools offered, and the
    # request's tags as a JSON object of strings.
    message_count: int | None = None
    last_turn_tool_result: bool | None = None
    tools_offered: int | None = None
    tags: str | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """A copy as a plain dict: every field is a scalar but `extra`, so a shallow copy
        does what dataclasses.asdict's deep copy does, at a fraction of its cost (it is
        called once per request)."""
        return {**vars(self), "extra": dict(self.extra)}


class EventSink(Protocol):
    def emit(self, event: RequestEvent) -> None: ...


class MemorySink:
    """Keeps the last `size` events in memory."""

    def __init__(self, size: int = 10_000):
        self.events: deque[RequestEvent] = deque(maxlen=size)

    def emit(self, event: RequestEvent) -> None:
        self.events.append(event)
        log.debug(
            "request %s %s status=%s model=%s tokens=%s/%s",
            event.request_id,
            event.endpoint,
            event.status,
            event.model_served or event.model_requested,
            event.input_tokens,
            event.output_tokens,
        )

    def as_dicts(self) -> list[dict]:
        return [e.as_dict() for e in self.events]
