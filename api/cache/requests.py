"""What a request is, for the cache: its exact key, and what the semantic cache compares.

Both are derived from the request body as the client sent it, minus the fields that
cannot change the answer (`stream`, `stream_options`, `user`, `metadata`), with the
model replaced by its canonical group. Everything else — every message, the system
prompt, tools, tool_choice, response_format, temperature, top_p, max_tokens, seed, stop,
and any parameter we do not know — is part of the key, so a changed parameter misses.
"""

import hashlib
import json
from dataclasses import dataclass

from api.cache import guard
from api.cache.policy import CachePolicy

# Fields that change how an answer is delivered, kept or attributed, never what it says
# (the Responses API's previous_response_id is expanded into the input before the key).
DELIVERY_FIELDS = frozenset(
    {"stream", "stream_options", "user", "metadata", "store", "previous_response_id",
     "prompt_cache_key", "client_metadata"}
)  # fmt: skip
PROVIDER_DEFAULT_TEMPERATURE = 1.0


def canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(*parts) -> bytes:
    return hashlib.sha256(canonical(parts)).digest()


def scope_of(policy: CachePolicy, principal) -> str:
    """Who shares entries: the team, or (stricter) one user or one key."""
    if policy.scope == "user" and principal.owner_user_id:
        return "user:" + principal.owner_user_id
    if policy.scope in ("user", "key"):
        return "key:" + (principal.key_id or principal.owner_user_id or "")
    return "team"


def answer_fields(body: dict, model: str) -> dict:
    fields = {k: v for k, v in body.items() if k not in DELIVERY_FIELDS}
    fields["model"] = model
    return fields


def exact_key(
    wire: str, model: str, body: dict, principal, policy: CachePolicy, extra: dict
) -> str:
    """The Redis key of a request's answer. `extra` holds request headers that change the
    answer (anthropic-beta). The team id is a Redis Cluster hash tag; the generation
    changes when the team's cache is purged."""
    h = digest(wire, scope_of(policy, principal), answer_fields(body, model), extra).hex()
    return f"aigw:cache:{{{principal.team_id}}}:{policy.generation}:{h}"


@dataclass(frozen=True)
class SemanticQuery:
    context_hash: bytes  # everything but the final user turn's text
    guard_hash: bytes  # the final turn's meaning signature (api/cache/guard.py)
    text: str  # the final user turn's text


def semantic_query(
    wire: str, model: str, body: dict, policy: CachePolicy, extra: dict
) -> tuple[SemanticQuery | None, str]:
    """The semantic part of a request, or None and the reason it may not be matched."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None, "no messages"
    temperature = body.get("temperature", PROVIDER_DEFAULT_TEMPERATURE)
    if not isinstance(temperature, int | float) or temperature > policy.semantic_max_temperature:
        return None, "temperature above the policy's bound"
    if not policy.semantic_tool_turns and any(is_tool_turn(m) for m in messages):
        return None, "tool-call turns"
    last = messages[-1]
    if last.get("role") != "user":
        return None, "the final turn is not the user's"
    text = user_text(last.get("content"))
    if not text:
        return None, "the final turn is not plain text"
    final_turn_rest = {k: v for k, v in last.items() if k != "content"}
    context = answer_fields(body, model)
    context["messages"] = messages[:-1]
    context_hash = digest(wire, context, final_turn_rest, extra)
    return SemanticQuery(context_hash, guard.guard_hash(text), text), ""


def user_text(content) -> str | None:
    """The text of a user turn: a string, or text parts only (an image or a document
    cannot be compared by a text embedding)."""
    if isinstance(content, str):
        return content.strip() or None
    if not isinstance(content, list) or not content:
        return None
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            return None
        if set(part) - {"type", "text", "cache_control"} or not isinstance(part.get("text"), str):
            return None
        texts.append(part["text"])
    return "\n".join(texts).strip() or None


def is_tool_turn(message) -> bool:
    if not isinstance(message, dict):
        return True
    if message.get("role") in ("tool", "function") or message.get("tool_calls"):
        return True
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(p, dict) and p.get("type") in ("tool_use", "tool_result") for p in content
    )
