"""Request bodies as JSON, parsed strictly and with a bounded depth, on every surface.

Python's json module accepts what PostgreSQL, Prometheus and most providers do not — a
lone surrogate (`"\\ud800"`) decodes to a str that cannot be encoded as UTF-8 — and it
recurses once per nesting level, so 100,000 nested arrays end in a RecursionError (a
500). orjson parses RFC 8259 strictly: invalid UTF-8 and lone surrogates are refused,
and nesting is limited to MAX_DEPTH levels. It is also several times faster than json.

Whatever this module returns can be walked, copied and encoded again by Python's own
recursive code (json.dumps, the cache's canonical keys, litellm's translation): the
interpreter's recursion limit is raised above MAX_DEPTH for that, once, here.
"""

import sys

import orjson

MAX_DEPTH = 1024  # orjson's own limit: deeper documents are refused
_RECURSION_NEEDED = 4 * MAX_DEPTH  # a few frames per level in the deepest walkers
if sys.getrecursionlimit() < _RECURSION_NEEDED:
    sys.setrecursionlimit(_RECURSION_NEEDED)


class InvalidJson(ValueError):
    """A body that is not strict JSON; the message is safe to show the caller."""


def loads(raw: bytes | bytearray | memoryview | str) -> object:
    """The JSON document in `raw`, or InvalidJson saying what is wrong with it."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(describe(exc)) from None


def describe(exc: orjson.JSONDecodeError) -> str:
    reason = exc.msg
    if "depth limit" in reason:
        reason = f"it is nested more than {MAX_DEPTH} levels deep"
    elif "UTF-8" in reason:
        reason = "it is not valid UTF-8"
    elif "surrogate" in reason:
        reason = "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text"
    return f"The request body is not valid JSON: {reason} (at character {exc.pos})."
