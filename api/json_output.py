"""JSON answers encoded with orjson: the gateway encodes one for every request it
serves, and Python's json module (what Starlette's JSONResponse uses) is several times
slower at it.

What orjson refuses (an integer beyond 64 bits from a translated answer, a lone
surrogate) falls back to the json module with ASCII escapes, which encodes anything
JSON can hold: an odd answer costs time, never a 500.
"""

import json

import orjson
from starlette.responses import Response


def dumps(value: object) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


class JSONBody(Response):
    """A JSON response, as Starlette's JSONResponse, encoded by `dumps`."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return dumps(content)
