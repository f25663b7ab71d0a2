"""The request pipeline both wire formats share: admit (authenticate, model policy, rate
limits, budget reservation), then settle and account once the answer is known."""

import asyncio
import json
import logging
import math
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import orjson
from fastapi import Request
from fastapi.responses import Response

from api import json_input
from api.cache import replay
from api.cache.store import CachePlan, ResponseCache
from api.gateway import errors, signals
from api.gateway.accounting import EventSink, RequestEvent, clean_text
from api.gateway.bounds import Bound
from api.gateway.budgets import BudgetLeases, Hold
from api.gateway.clients import client_name
from api.gateway.config import GatewayConfig
from api.gateway.event_stream import EventStream
from api.gateway.guardrails import (
    Guardrails,
    StreamGuard,
    answer_slots,
    event_fields,
    judge_slots,
    stream_guard,
    text_slots,
)
from api.gateway.guardrails import blocked as guardrail_blocked
from api.gateway.principals import AuthError, KeyAuthenticator, Principal, presented_key
from api.gateway.rate_limit import RateLimiter
from api.gateway.registry import ModelRegistry
from api.gateway.upstream import Upstream, UpstreamError, sse_data
from api.guardrails.rules import StageRules
from api.guardrails.stream import Blocked
from api.json_output import JSONBody
from api.keys import Scope

log = logging.getLogger("aigw.gateway")

# Where a request's admission is kept in its ASGI scope (from Gateway.begin), so that on
# the model endpoints (fast_path.ROUTES) whatever fails unexpectedly is still recorded.
ADMISSION = "aigw.admission"


MAX_SESSION_ID = 128
CLAUDE_CODE_SESSION = re.compile(r"_session_([0-9A-Za-z-]{8,64})$")
# Where clients name their session, by rank: ours, Claude Code's, Codex's.
SESSION_HEADERS = {
    b"x-aigw-session-id": 0,
    b"x-claude-code-session-id": 1,
    b"session-id": 2,
    b"thread-id": 3,
}


def session_header(raw_headers: list[tuple[bytes, bytes]]) -> str | None:
    """The session a header names (the best-ranked one present), in one pass over the
    request's headers."""
    best, rank = None, len(SESSION_HEADERS)
    for name, value in raw_headers:
        if (found := SESSION_HEADERS.get(name)) is not None and found < rank:
            best, rank = value, found
    return best.decode("latin-1") if best else None


def bounded(session_id: str | None) -> str | None:
    """A caller's session id as recorded: at most MAX_SESSION_ID characters, nothing
    the event log could not hold (clean_text), or none."""
    return clean_text(session_id, MAX_SESSION_ID) if session_id else None


def claude_code_session(user_id: str) -> str | None:
    """The session Claude Code names in `metadata.user_id`: a JSON object's session_id,
    or an older version's `…_session_<uuid>` suffix."""
    if user_id.startswith("{"):
        try:
            session = json_input.loads(user_id).get("session_id")
        except (json_input.InvalidJson, AttributeError):
            return None
        return bounded(session) if isinstance(session, str) else None
    found = CLAUDE_CODE_SESSION.search(user_id)
    return found.group(1) if found else None


def tokens_in(chars: int) -> int:
    """A cheap, tokenizer-free estimate: about four characters of ASCII JSON a token."""
    return max(1, math.ceil(chars / 4))


def estimate_tokens(*parts) -> int:
    """The estimate for parts of a request (what count_tokens answers without a provider)."""
    return tokens_in(sum(len(json.dumps(p, default=str)) for p in parts if p is not None))


NON_ASCII = bytes(range(0x80, 0x100))
LEAD_BYTES = bytes(range(0xC0, 0x100))  # the first byte of each non-ASCII character
ASTRAL_LEAD_BYTES = bytes(range(0xF0, 0x100))  # ... of each beyond U+FFFF (emoji)


def ascii_json_length(raw: bytes) -> int:
    """The length of a UTF-8 JSON body written as ASCII, as json.dumps writes it: each
    non-ASCII character as \\uXXXX (two of them beyond U+FFFF). This is what the estimate
    counts: in plain bytes, text in other scripts would come out at half its tokens."""
    ascii_bytes = len(raw.translate(None, NON_ASCII))
    characters = len(raw) - len(raw.translate(None, LEAD_BYTES))
    astral = len(raw) - len(raw.translate(None, ASTRAL_LEAD_BYTES))
    return ascii_bytes + 6 * characters + 6 * astral


def as_int(value) -> int:
    """A token count from a provider's JSON; anything unreadable counts as 0."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    tool_calls: int = 0


@dataclass
class Admission:
    """Everything decided before the provider is called, and what must be undone after."""

    request_id: str
    wire: str
    endpoint: str
    started: float
    started_at: float
    principal: Principal | None = None
    model_requested: str | None = None
    model: str | None = None  # the canonical model group
    stream: bool = False
    session_id: str | None = None
    client: str | None = None
    body_chars: int = 0  # the request body's length as ASCII JSON (ascii_json_length)
    body: bytes | None = None  # the raw body, kept for a budget's bound (bounds.py) only
    input_estimate: int = 0
    rate_headers: dict[str, str] = field(default_factory=dict)
    rate_decision: object = None
    hold: Hold | None = None  # the request's worst case, held in a budget lease
    cache: CachePlan | None = None
    cache_status: str | None = None  # set on endpoints whose answers are cached
    finished: bool = False
    api: str | None = None  # "responses" for the Responses API (its own answers and events)
    # Awaited with the whole answer once it is complete, before the client has all of it
    # (the Responses API stores it, so that the client may continue from it at once).
    on_answer: Callable[[dict], Awaitable[None]] | None = None
    # What the guardrails decided (Rule.verdict of each rule that matched), and the
    # team's output rules, which the answer is judged by (None: it has none).
    verdicts: list[dict] = field(default_factory=list)
    output_rules: StageRules | None = None
    # What classification and per-PR cost need (api/gateway/signals.py)
    message_count: int | None = None
    last_turn_tool_result: bool | None = None
    tools_offered: int | None = None
    tags: str | None = None  # a JSON object of strings


class Gateway:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        config: GatewayConfig,
        upstream: Upstream,
        authenticator: KeyAuthenticator,
        limiter: RateLimiter,
        events: EventSink,
        registry: ModelRegistry,
        budgets: BudgetLeases,
        cache: ResponseCache | None = None,
        guardrails: Guardrails | None = None,
    ):
        self.pool = pool
        self.config = config
        self.upstream = upstream
        self.authenticator = authenticator
        self.limiter = limiter
        self.events = events
        self.registry = registry
        self.budgets = budgets
        self.cache = cache
        self.guardrails = guardrails
        self._background: set[asyncio.Task] = set()

    # -- admission ---------------------------------------------------------------------

    def begin(self, request: Request, wire: str) -> Admission:
        headers = request.headers
        admission = request.scope[ADMISSION] = Admission(
            request_id="req_" + os.urandom(16).hex(),  # uuid4().hex's 128 bits, no UUID built
            wire=wire,
            endpoint=request.scope["path"],
            started=time.perf_counter(),
            started_at=time.time(),
            session_id=bounded(session_header(request.scope["headers"])),
            client=client_name(headers.get("user-agent")),
        )
        return admission

    def read_session(self, admission: Admission, body: dict) -> None:
        """The session a request belongs to, when no header said: the client's own
        metadata. OpenAI-format clients may send `metadata.session_id`; Claude Code
        sends `metadata.user_id`, a JSON object with its `session_id` (older versions:
        a string ending in `_session_<uuid>`)."""
        if admission.session_id is not None:
            return
        metadata = body.get("metadata")
        if not isinstance(metadata, dict):
            return
        if isinstance(session := metadata.get("session_id"), str):
            admission.session_id = bounded(session)
        elif isinstance(user := metadata.get("user_id"), str):
            admission.session_id = claude_code_session(user)

    @staticmethod
    def read_signals(
        request: Request, admission: Admission, body: dict, dialect: str | None
    ) -> None:
        """Message count, last turn, tools offered and tags (api/gateway/signals.py);
        raises GatewayError (400) for tags out of bounds."""
        signals.read(admission, body, request.headers.get(signals.TAGS_HEADER), dialect)

    async def authenticate(self, request: Request, admission: Admission) -> Principal:
        key = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
        team = request.headers.get("x-aigw-team")
        try:
            admission.principal = await self.authenticator.authenticate(key, team)
        except AuthError as exc:
            if exc.status == 403:
                raise errors.GatewayError(
                    403, exc.message, "permission_error", "permission_error", exc.code
                ) from None
            if exc.status == 400:
                raise errors.bad_request(exc.message) from None
            raise errors.unauthenticated(exc.message, exc.code) from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            # A key not yet cached cannot be checked: refuse rather than guess.
            log.error("authentication unavailable: %s", type(exc).__name__)
            raise errors.dependency_unavailable("authentication") from None
        return admission.principal

    def authorize(self, admission: Admission, scope: Scope | None) -> None:
        """Refuse a principal whose key lacks the scope an endpoint needs (None: any
        scope will do); identity tokens hold every scope. A set lookup on the cached
        principal: nothing to measure on the hot path."""
        granted = admission.principal.scopes
        if (scope in granted) if scope else granted:
            return
        raise errors.GatewayError(
            403,
            f"This API key may not call {admission.endpoint}"
            + (f": it needs the '{scope}' scope" if scope else "")
            + f" (the key's scopes: {', '.join(sorted(granted)) or 'none'}). Use a key "
            "issued with it: inference (chat completions, messages, count_tokens) or "
            "embeddings (/v1/embeddings).",
            "permission_error",
            "permission_error",
            "insufficient_scope",
        )

    def resolve_model(self, admission: Admission, requested) -> str:
        if not isinstance(requested, str) or not requested:
            raise errors.bad_request("'model' is required and must be a string.")
        admission.model_requested = clean_text(requested)
        model = self.config.canonical(requested)
        if model is None:
            raise errors.unknown_model(admission.model_requested)
        if model not in admission.principal.allowed_models:
            raise errors.model_not_allowed(model)
        admission.model = model
        return model

    def guard_input(
        self, admission: Admission, body: dict, fields: tuple[str, ...], input_tokens: int
    ) -> bool:
        """Judge the request's texts (the `fields` of `body`: messages, system, input, …)
        by the team's input rules, before anything is counted, cached or sent: a blocked
        request costs nothing. Redactions are written into `body`; returns True when
        there were any. Raises GatewayError (400, guardrail_blocked) naming the rule."""
        if self.guardrails is None:
            return False
        rules = self.guardrails.for_team(admission.principal.team_id)
        admission.output_rules = rules.output if rules.output.rules else None
        if not rules.input.rules:
            return False
        judgement = judge_slots(rules.input, text_slots(body, fields), input_tokens)
        if judgement.verdicts:
            admission.verdicts.extend(judgement.verdicts)
        if judgement.blocked is not None:
            raise guardrail_blocked(judgement.blocked, "input")
        return judgement.texts is not None

    @staticmethod
    def rebound(admission: Admission, body: dict) -> None:
        """A redacted body is what a budget's bound is computed from: a redaction may be
        longer than what it replaced."""
        if admission.body is not None:
            admission.body = orjson.dumps(body)

    def guard_answer(self, admission: Admission, answer: dict) -> errors.GatewayError | None:
        """Judge a whole answer by the team's output rules, redacting it in place; the
        caller's error when a rule blocks it."""
        if admission.output_rules is None:
            return None
        dialect = "responses" if admission.api == "responses" else admission.wire
        slots = answer_slots(answer, dialect)
        if not slots:
            return None
        judgement = judge_slots(admission.output_rules, slots)
        if judgement.verdicts:
            admission.verdicts.extend(judgement.verdicts)
        if judgement.blocked is not None:
            return guardrail_blocked(judgement.blocked, "output")
        return None

    async def admit(
        self,
        admission: Admission,
        *,
        input_estimate: int,
        bound: Callable[[], Bound] | None,
        cacheable=None,
    ) -> None:
        """Rate limits, then the cache (when `cacheable` = (body, headers, extra) is
        given), then the budget reservation of what the request can cost at most
        (`bound()`, computed only for a team with a budget; None: the call is free).
        Raises GatewayError when refused. After a cache hit (admission.cache.entry)
        nothing is reserved: a hit costs nothing."""
        p = admission.principal
        admission.input_estimate = input_estimate
        decision = await self.limiter.acquire(p.limits, tokens=input_estimate, tag=p.team_id)
        admission.rate_headers = decision.headers()
        if not decision.allowed:
            kind = decision.refused_by.kind if decision.refused_by else "requests"
            raise errors.rate_limited(
                kind, admission.rate_headers, decision.retry_after_s is not None
            )
        admission.rate_decision = decision
        if cacheable is not None:
            admission.cache_status = "bypass"
            if self.cache is not None:
                body, headers, extra = cacheable
                plan = self.cache.plan(
                    p, p.cache, admission.wire, admission.model, body, headers, extra
                )
                admission.cache = await self.cache.lookup(plan)
                admission.cache_status = plan.status
            admission.rate_headers["x-aigw-cache"] = admission.cache_status
            if admission.cache is not None and admission.cache.entry is not None:
                return
        if p.has_budget and bound is not None:
            try:
                admission.hold = await self.budgets.admit(p, admission.model, bound())
            except errors.GatewayError:
                # No hold, no call: money is never spent unaccounted.
                await self._refund_rate(admission)
                raise

    async def _refund_rate(self, admission: Admission) -> None:
        if admission.rate_decision is not None:
            await self.limiter.settle_tokens(admission.rate_decision, 0)

    # -- completion --------------------------------------------------------------------

    def finish(
        self,
        admission: Admission,
        *,
        status: int,
        usage: Usage | None = None,
        error_type: str | None = None,
        deployment=None,
        attempts: int = 0,
        upstream_ms: float | None = None,
        disconnected: bool = False,
    ) -> None:
        """Settle the budget and the token counters, and emit the event. Settling talks
        to PostgreSQL and Redis, so it runs in the background and the response never
        waits on it; with nothing to settle the event is emitted at once (an append to
        the writer's queue). Safe to call once only."""
        if admission.finished:
            return
        admission.finished = True
        event = RequestEvent(
            request_id=admission.request_id,
            endpoint=admission.endpoint,
            wire=admission.wire,
            status=status,
            started_at=admission.started_at,
            model_requested=admission.model_requested,
            model_served=deployment.model_name if deployment else None,
            deployment=deployment.id if deployment else None,
            path=("native" if deployment.wire == admission.wire else "litellm")
            if deployment
            else None,
            stream=admission.stream,
            latency_ms=(time.perf_counter() - admission.started) * 1000,
            upstream_latency_ms=upstream_ms,
            upstream_attempts=attempts,
            error_type=error_type,
            session_id=admission.session_id,
            client=admission.client,
            client_disconnected=disconnected,
            cache=admission.cache_status,
            message_count=admission.message_count,
            last_turn_tool_result=admission.last_turn_tool_result,
            tools_offered=admission.tools_offered,
            tags=admission.tags,
        )
        if admission.verdicts:
            event.guardrail_action, event.guardrail_verdicts = event_fields(admission.verdicts)
        if admission.principal:
            p = admission.principal
            event.key_id, event.team_id = p.key_id, p.team_id
            event.owner_user_id, event.service_account_id = p.owner_user_id, p.service_account_id
        if admission.cache is not None and admission.cache.entry is not None:
            saved = admission.cache.entry.get("usage") or {}
            event.model_served = admission.model  # the cached answer is that model's
            event.saved_input_tokens = as_int(saved.get("input_tokens"))
            event.saved_output_tokens = as_int(saved.get("output_tokens"))
            event.cost_usd = 0.0
        if usage:
            event.input_tokens = usage.input_tokens
            event.output_tokens = usage.output_tokens
            event.cached_input_tokens = usage.cached_input_tokens
            event.tool_calls = usage.tool_calls
        if admission.hold is not None:  # settled in memory; the lease's flush tells the ledger
            u = usage or Usage()
            cost = self.budgets.settle(
                admission.hold, u.input_tokens, u.output_tokens, u.cached_input_tokens
            )
            event.cost_usd = float(cost)
        decision = admission.rate_decision
        if not (decision is not None and decision.token_keys):
            self.events.emit(event)  # nothing to settle: no task for it
            return
        self.background(self._settle_and_emit(admission, usage or Usage(), event))

    async def _settle_and_emit(self, admission: Admission, usage: Usage, event) -> None:
        try:
            await self.limiter.settle_tokens(
                admission.rate_decision, usage.input_tokens + usage.output_tokens
            )
        except Exception:  # settlement must never lose the event
            log.exception("settlement failed for %s", admission.request_id)
        finally:
            self.events.emit(event)

    def background(self, work) -> None:
        """Run `work` (a coroutine) after the response, off its path; drain() waits for it."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background settlements (at shutdown, and in tests)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def relay(
        self,
        admission: Admission,
        events: AsyncIterator[bytes],
        upstream,
        attempted,
        upstream_started: float,
        read: Callable[[dict, Usage], tuple[int, bool, bool]],
    ) -> AsyncIterator[bytes]:
        """Pass the provider's SSE events through, reading usage on the way, and settle
        what was produced even when the client goes away mid-stream. `read(data, usage)`
        is the dialect's reader: it returns (characters produced, stream complete,
        forward), forward being True to pass the event on as it came, False to drop it,
        or the bytes to send instead."""
        usage, produced_chars, completed = Usage(), 0, False
        first_byte_ms = None
        collector = self._collector(admission)
        # Output rules read the text as it streams (api/gateway/guardrails.py): they may
        # hold some back, rewrite it, or end the stream with an error event.
        guard = self._stream_guard(admission)
        blocked = False
        try:
            async for event in events:
                data = sse_data(event)
                if data is not None:
                    chars, done, forward = read(data, usage)
                    produced_chars += chars
                    sent = None  # the events the guard sends instead (None: this one)
                    if guard is not None and forward is not False:
                        try:
                            sent = guard.event(data)
                        except Blocked as exc:
                            blocked = True
                            yield guard.error(exc.rule)
                            break
                    if collector is not None:
                        for item in (data,) if sent is None else sent:
                            if collector is not None:
                                collector = feed(collector, item)
                    completed = completed or done
                    answered = done and admission.on_answer is not None and collector is not None
                    if answered and (answer := collector.result()) is not None:
                        await admission.on_answer(answer)  # before the client has it all
                    if sent is not None:
                        if not sent:
                            continue
                        event = b"".join(guard.encode(item) for item in sent)
                    elif not forward:
                        continue
                    elif forward is not True:
                        event = forward
                elif b"[DONE]" in event:
                    if guard is not None:  # what the guard still holds goes before the end
                        try:
                            held = guard.close()
                        except Blocked as exc:
                            blocked = True
                            yield guard.error(exc.rule)
                            break
                        for item in held:
                            collector = feed(collector, item) if collector is not None else None
                        if held:
                            yield b"".join(guard.encode(item) for item in held)
                    completed = True
                if first_byte_ms is None:
                    first_byte_ms = (time.perf_counter() - upstream_started) * 1000
                yield event
            else:
                if guard is not None:  # a stream that ended without its closing events
                    try:
                        held = guard.close()
                    except Blocked as exc:
                        blocked = True
                        yield guard.error(exc.rule)
                    else:
                        if held:
                            yield b"".join(guard.encode(item) for item in held)
        except UpstreamError:
            pass  # headers are sent: the stream ends here; what was produced is charged
        finally:
            if guard is not None and guard.scanner.verdicts:
                admission.verdicts.extend(guard.scanner.verdicts.values())
            await self.end_stream(
                admission,
                upstream,
                attempted,
                usage,
                produced_chars=produced_chars,
                completed=completed and not blocked,
                first_byte_ms=first_byte_ms,
                blocked=blocked,
            )
            kept = completed and not blocked and collector is not None
            if kept and (answer := collector.result()):
                answer["model"] = admission.model
                self.keep(admission, answer, usage)

    def _stream_guard(self, admission: Admission) -> StreamGuard | None:
        if admission.output_rules is None:
            return None
        dialect = "responses" if admission.api == "responses" else admission.wire
        return stream_guard(admission.output_rules, dialect)

    def keep(self, admission: Admission, answer: dict, usage: Usage) -> None:
        """A complete answer: into the cache, when it is kept there."""
        if admission.cache is not None and admission.cache.store:
            self.cache.store(admission.cache, answer, usage)

    def _collector(self, admission: Admission):
        """What rebuilds a streamed answer; None when nothing keeps it."""
        keeps = admission.cache is not None and admission.cache.store
        if not keeps and admission.on_answer is None:
            return None
        if admission.api == "responses":
            return replay.ResponsesCollector()
        return (
            replay.OpenAICollector() if admission.wire == "openai" else replay.AnthropicCollector()
        )

    async def end_stream(
        self,
        admission: Admission,
        upstream,
        attempted,
        usage: Usage,
        *,
        produced_chars: int = 0,
        completed: bool = False,
        first_byte_ms: float | None = None,
        blocked: bool = False,
    ) -> None:
        """Close the provider's stream and settle what was produced. The provider's count
        is final only once its stream completed (Anthropic's message_start already says
        1 output token): a stream cut short, or one that never said, is charged at least
        for the text, tool arguments and thinking it carried, the same way in both
        dialects."""
        if hasattr(upstream, "aclose"):
            await upstream.aclose()
        if produced_chars and (not completed or not usage.output_tokens):
            usage.output_tokens = max(usage.output_tokens, tokens_in(produced_chars))
        if not usage.input_tokens:
            usage.input_tokens = admission.input_estimate
        self.finish(
            admission,
            status=200,
            usage=usage,
            deployment=attempted.deployment,
            attempts=attempted.attempts,
            upstream_ms=first_byte_ms,
            # a stream an output rule ended was not left by its client
            disconnected=not completed and not blocked,
            error_type="guardrail_blocked" if blocked else None,
        )

    async def call_upstream(self, admission: Admission, attempt, wire: str):
        """Run the attempt through the retry / fallback / cooldown loop; a final failure
        is settled and raised as the caller's error."""
        try:
            return await self.upstream.run(admission.model, attempt)
        except UpstreamError as failure:
            error = self.upstream_error(failure, wire)
            self.finish(
                admission, status=error.status, error_type=error.code, attempts=failure.attempts
            )
            raise error from None

    async def answer(
        self,
        admission: Admission,
        attempted,
        upstream_started: float,
        build: Callable[[], dict],
        read_usage: Callable[[dict, Usage], None],
        wire: str,
    ) -> Response:
        """A whole (non-streamed) answer: read its usage, settle, and send it on."""
        usage = Usage()
        try:
            data = build()
            data["model"] = admission.model
            read_usage(data, usage)
        except Exception:  # whatever the provider sent, the request is settled and answered
            error = errors.bad_upstream_response()
            self.finish(
                admission,
                status=error.status,
                error_type=error.code,
                deployment=attempted.deployment,
                attempts=attempted.attempts,
            )
            return error.response(wire)
        if (refused := self.guard_answer(admission, data)) is not None:
            # The provider answered (and is paid); the caller gets the refusal, and
            # nothing is cached or stored.
            self.finish(
                admission,
                status=refused.status,
                usage=usage,
                error_type=refused.code,
                deployment=attempted.deployment,
                attempts=attempted.attempts,
                upstream_ms=(time.perf_counter() - upstream_started) * 1000,
            )
            return refused.response(wire)
        self.finish(
            admission,
            status=200,
            usage=usage,
            deployment=attempted.deployment,
            attempts=attempted.attempts,
            upstream_ms=(time.perf_counter() - upstream_started) * 1000,
        )
        self.keep(admission, data, usage)
        if admission.on_answer is not None:
            await admission.on_answer(data)
        return JSONBody(data, headers=with_timing(admission))

    async def serve_cached(self, admission: Admission, *, include_usage: bool = False) -> Response:
        """A cache hit, whole or as an event stream in the caller's dialect."""
        answer = dict(admission.cache.entry["response"])
        # A fresh id per answer, as the provider would give; the content is the cached one.
        prefix = {"responses": "resp_"}.get(admission.api) or (
            "chatcmpl-" if admission.wire == "openai" else "msg_"
        )
        answer["id"] = prefix + admission.request_id.removeprefix("req_")
        answer["model"] = admission.model
        # Cached under other rules, perhaps: judged by today's before it is replayed.
        if admission.output_rules is not None:
            answer = json.loads(json.dumps(answer))  # the cached entry stays as it was
            if (refused := self.guard_answer(admission, answer)) is not None:
                self.finish(admission, status=refused.status, error_type=refused.code)
                return refused.response(admission.wire)
        self.finish(admission, status=200)
        if admission.on_answer is not None:
            await admission.on_answer(answer)
        if not admission.stream:
            return JSONBody(answer, headers=with_timing(admission))
        if admission.api == "responses":
            events = replay.responses_events(answer)
        elif admission.wire == "openai":
            events = replay.openai_events(answer, include_usage)
        else:
            events = replay.anthropic_events(answer)

        async def body() -> AsyncIterator[bytes]:
            for event in events:
                yield event

        return EventStream(body(), headers=admission.rate_headers)

    def stream(self, admission: Admission, body, upstream, attempted) -> EventStream:
        async def on_close() -> None:
            # A no-op when the stream ran: it ended (and settled) itself already.
            await self.end_stream(admission, upstream, attempted, Usage())

        return EventStream(body, on_close=on_close, headers=admission.rate_headers)

    def reject(self, admission: Admission, error: errors.GatewayError) -> None:
        self.finish(admission, status=error.status, error_type=error.code or error.openai_type)

    def upstream_error(self, error: UpstreamError, wire: str) -> errors.GatewayError:
        """A failed provider call, in terms the caller can act on."""
        if error.kind == "request":
            return errors.GatewayError(
                400,
                "The request could not be translated into the format of this model's "
                f"provider: {error.message}",
                "invalid_request_error",
                "invalid_request_error",
                "untranslatable_request",
            )
        if error.status and 400 <= error.status < 500 and not error.retryable:
            message = (
                provider_message(error.body)
                or f"The provider refused the request (HTTP {error.status})."
            )
            return errors.GatewayError(
                error.status, message, "invalid_request_error", "invalid_request_error"
            )
        return errors.upstream_failed(error.status, error.kind)


def with_timing(admission: Admission) -> dict[str, str]:
    """The response headers, with the time the gateway took so far (Server-Timing, which
    browsers' and load tools' timings show) — for a whole answer, everything but sending."""
    elapsed_ms = (time.perf_counter() - admission.started) * 1000
    return {**admission.rate_headers, "server-timing": f"aigw;dur={elapsed_ms:.3f}"}


def feed(collector, data: dict):
    """Feed a collector; one that cannot follow the stream is dropped (nothing is cached),
    and the stream itself carries on."""
    try:
        collector.feed(data)
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    return collector


def provider_message(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return None
