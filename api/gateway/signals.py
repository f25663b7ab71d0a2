"""What a request's event carries for session classification and per-PR cost, read from
the body the endpoint has already parsed: how many messages it holds, whether its last
turn is a tool result, how many tools it offers, and its tags.

Only the top level of the body is looked at (the length of a list, the role or type of
its last item): no second parse, no walk over the text. Tags are the one thing a caller
can get wrong, so they are checked, and refused with a 400 naming the problem.

Tags (LiteLLM's tag-based spend is the model: `metadata.tags` on the body, or a header)
come from the `x-aigw-tags` header, `pr=org/repo#123,env=ci`, and from the body's
`metadata.tags`: an object of strings, a list of `key=value` / `key:value` strings (a
bare `ci` is the key `ci` with an empty value, as LiteLLM's plain tags are), or one
string in the header's form (OpenAI's SDKs type metadata values as strings). Both may be
given: the header's value wins for a key named in both (it is what a CI job sets, around
a client it does not control). `metadata.tags` is taken out of the body before it is sent
on: providers refuse metadata they do not know (Anthropic's takes `user_id` only, and
OpenAI's values must be strings), and tags do not change an answer, so the cache does
not see them either.
"""

import re

import orjson

from api.gateway import errors

TAGS_HEADER = "x-aigw-tags"
MAX_TAGS = 20
MAX_TAG_KEY = 64
MAX_TAG_VALUE = 200
TAG_KEY = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
# The last turn answers a tool call: an agent loop's turn, not a human's.
OPENAI_TOOL_ROLES = frozenset({"tool", "function"})
RESPONSES_TOOL_OUTPUTS = frozenset({"function_call_output", "custom_tool_call_output"})


def tags_error(where: str, problem: str) -> errors.GatewayError:
    return errors.GatewayError(
        400,
        f"{where}: {problem}. Tags are at most {MAX_TAGS} key=value pairs; a key is 1 to "
        f"{MAX_TAG_KEY} of A-Z a-z 0-9 . _ : / -, a value at most {MAX_TAG_VALUE} printable "
        f"characters (e.g. '{TAGS_HEADER}: pr=org/repo#123,env=ci').",
        "invalid_request_error",
        "invalid_request_error",
        "invalid_tags",
    )


def _add(tags: dict, key, value, where: str) -> None:
    if not isinstance(key, str) or not TAG_KEY.fullmatch(key):
        shown = errors.echoed(key) if isinstance(key, str) else type(key).__name__
        raise tags_error(where, f"the tag key {shown!r} is not a valid key")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise tags_error(where, f"the value of tag '{key}' must be a string")
    value = value if isinstance(value, str) else str(value)
    if len(value) > MAX_TAG_VALUE:
        raise tags_error(where, f"the value of tag '{key}' is longer than {MAX_TAG_VALUE}")
    if value and not value.isprintable():
        raise tags_error(where, f"the value of tag '{key}' holds control characters")
    tags[key] = value
    if len(tags) > MAX_TAGS:
        raise tags_error(where, f"more than {MAX_TAGS} tags")


def _add_pair(tags: dict, item: str, where: str) -> None:
    """`key=value`, `key:value` or a bare `key`. `=` is looked for first, so that a key
    may hold a colon when the pair says `=` (`team:ml=yes`)."""
    key, sep, value = item.partition("=")
    if not sep:
        key, _, value = item.partition(":")
    _add(tags, key.strip(), value.strip(), where)


def _add_list(tags: dict, text: str, where: str) -> None:
    """Comma-separated pairs, as the header carries them."""
    # Hundreds of tags are refused before they are all split.
    if text.count(",") > MAX_TAGS:
        raise tags_error(where, f"more than {MAX_TAGS} tags")
    for item in text.split(","):
        if item := item.strip():
            _add_pair(tags, item, where)


def header_text(value: str | None) -> str | None:
    """A header as the client wrote it: Starlette reads header bytes as Latin-1, and a
    client sending `owner=José` sent UTF-8. Bytes that are not UTF-8 stay as read (their
    C1 controls are then refused as control characters)."""
    if value is None or value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def parse_tags(header: str | None, metadata) -> str | None:
    """The request's tags as the event records them (a JSON object of strings), or None
    without any. Raises GatewayError (400, invalid_tags) when a bound is broken."""
    tags: dict[str, str] = {}
    given = metadata.get("tags") if isinstance(metadata, dict) else None
    if isinstance(given, dict):
        for key, value in given.items():
            _add(tags, key, value, "metadata.tags")
    elif isinstance(given, list):
        if len(given) > MAX_TAGS:
            raise tags_error("metadata.tags", f"more than {MAX_TAGS} tags")
        for item in given:
            if not isinstance(item, str):
                raise tags_error("metadata.tags", "each tag must be a 'key=value' string")
            _add_pair(tags, item, "metadata.tags")
    elif isinstance(given, str):  # OpenAI's metadata takes strings only: the header's form
        _add_list(tags, given, "metadata.tags")
    elif given is not None:
        raise tags_error("metadata.tags", "must be an object, an array of strings or a string")
    if header:
        _add_list(tags, header, TAGS_HEADER)
    return orjson.dumps(tags).decode() if tags else None


def without_tags(body: dict) -> None:
    """Take `metadata.tags` out of the body sent on (a shallow copy of `metadata`: the
    caller's other metadata stays)."""
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and "tags" in metadata:
        rest = {k: v for k, v in metadata.items() if k != "tags"}
        if rest:
            body["metadata"] = rest
        else:
            del body["metadata"]


def _tools(body: dict) -> int:
    tools = body.get("tools")
    return len(tools) if isinstance(tools, list) else 0


def openai_chat(messages) -> tuple[int | None, bool | None]:
    if not isinstance(messages, list):
        return None, None
    last = messages[-1] if messages else None
    return len(messages), isinstance(last, dict) and last.get("role") in OPENAI_TOOL_ROLES


def anthropic(messages) -> tuple[int | None, bool | None]:
    """The last user message (the one after it, if any, is an assistant prefill) answers
    a tool call when one of its blocks is a tool_result."""
    if not isinstance(messages, list):
        return None, None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            tool_result = isinstance(content, list) and any(
                isinstance(block, dict) and block.get("type") == "tool_result" for block in content
            )
            return len(messages), tool_result
    return len(messages), False


def responses(items) -> tuple[int | None, bool | None]:
    if isinstance(items, str):
        return 1, False
    if not isinstance(items, list):
        return None, None
    last = items[-1] if items else None
    return len(items), isinstance(last, dict) and last.get("type") in RESPONSES_TOOL_OUTPUTS


COUNTERS = {"openai": ("messages", openai_chat), "anthropic": ("messages", anthropic)}
COUNTERS["responses"] = ("input", responses)


def read(admission, body: dict, header: str | None, dialect: str | None) -> None:
    """Set the admission's signals from the parsed body (`dialect`: openai, anthropic or
    responses; None for an endpoint without messages, whose requests carry tags only)."""
    admission.tags = parse_tags(header_text(header), body.get("metadata"))
    without_tags(body)
    if dialect is None:
        return
    field, count = COUNTERS[dialect]
    admission.message_count, admission.last_turn_tool_result = count(body.get(field))
    admission.tools_offered = _tools(body)
