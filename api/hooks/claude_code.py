"""POST /hooks/claude-code: Claude Code's HTTP hooks, for session classification.

Claude Code POSTs each hook event's JSON (session_id, hook_event_name, cwd,
transcript_path, and per event the prompt, tool_name, tool_input, tool_response,
permission_mode, …) to the hook's `url`, with the `headers` its settings name. The key
is the developer's own sk-aigw- key, checked exactly as the model endpoints check it
(the same in-memory cache: no database round trip once it is warm).

Only the event's name, the session, the tool's name, the permission mode and the time
are kept (api.record_hook_event). The prompt, the tool's input and output, the working
directory and the transcript's path are never kept, never logged and never echoed in an
error: they are read past, in the parsed body, and dropped with it.

The answer is an empty 204 as soon as the event is queued (api/hooks/recorder.py): a
hook must never slow the developer down, so nothing waits for the database. Errors are
JSON in the shape of /admin's; Claude Code treats any non-2xx answer as a non-blocking
error and carries on.
"""

import re
import time

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import json_input
from api.auth.errors import ApiProblem, responses
from api.gateway.principals import AuthError, presented_key
from api.hooks.recorder import HookEvent
from api.hooks.settings import KEY_VARIABLE
from api.request_bodies import read_limited

router = APIRouter(prefix="/hooks", tags=["hooks"])
# A hook's JSON is small but for what it carries and we drop (a prompt, a tool's input
# or output): past this it is refused, before it is all read.
MAX_BODY_BYTES = 64 * 1024
MAX_SESSION_ID = 128
EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
MAX_TOOL_NAME = 128
MAX_PERMISSION_MODE = 64


def too_large(limit: int) -> ApiProblem:
    return ApiProblem(
        413,
        f"The hook body is larger than {limit // 1024} KiB, the most this endpoint takes.",
        "request_too_large",
        {"Connection": "close"},
    )


def bad(message: str, code: str = "invalid_hook") -> ApiProblem:
    return ApiProblem(400, message, code)


def text(body: dict, name: str, limit: int, *, required: bool = False) -> str | None:
    """A string field of the hook, checked rather than cleaned: a session id or a tool
    name with control characters in it is not Claude Code's, so it is refused."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise bad(f"'{name}' must be a non-empty string.")
    if len(value) > limit or not value.isprintable():
        raise bad(f"'{name}' must be at most {limit} printable characters.")
    return value


def parse(raw: bytes) -> tuple[str, str, str | None, str | None]:
    """(session_id, hook_event_name, tool_name, permission_mode) of a hook body."""
    try:
        body = json_input.loads(raw)
    except json_input.InvalidJson as exc:
        raise bad(str(exc).replace("request body", "hook body"), "invalid_json") from None
    if not isinstance(body, dict):
        raise bad("The hook body must be a JSON object, as Claude Code sends it.")
    session = text(body, "session_id", MAX_SESSION_ID, required=True)
    name = body.get("hook_event_name")
    if not isinstance(name, str) or not EVENT_NAME.fullmatch(name):
        raise bad("'hook_event_name' must be the name of a Claude Code hook event, e.g. 'Stop'.")
    return (
        session,
        name,
        text(body, "tool_name", MAX_TOOL_NAME),
        text(body, "permission_mode", MAX_PERMISSION_MODE),
    )


async def authenticate(request: Request):
    gw = request.app.state.gateway
    key = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
    try:
        principal = await gw.authenticator.authenticate(key, None)
    except AuthError as exc:
        raise ApiProblem(exc.status, exc.message, exc.code) from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
        # A key not yet cached cannot be checked while the database is away.
        raise ApiProblem(
            503, "The key cannot be checked now: the database is unavailable.", "unavailable"
        ) from None
    if principal.key_id is None or not principal.scopes:
        raise ApiProblem(
            401,
            f"Hooks report with an sk-aigw- API key: set {KEY_VARIABLE} to yours "
            "(`aigw hooks print` shows the settings).",
            "api_key_required",
        )
    return principal


@router.post(
    "/claude-code",
    status_code=204,
    summary="Record a Claude Code hook event (event, session, tool, permission mode only)",
    responses=responses(400, 401, 403, 503)
    | {413: {"description": f"The body is over {MAX_BODY_BYTES // 1024} KiB"}},
)
async def claude_code_hook(request: Request) -> Response:
    principal = await authenticate(request)
    raw = await read_limited(request, MAX_BODY_BYTES, too_large)
    session, name, tool, mode = parse(raw)
    event = HookEvent(
        key_id=principal.key_id,
        user_id=principal.owner_user_id,
        service_account_id=principal.service_account_id,
        team_id=principal.team_id,
        session_id=session,
        hook_event_name=name,
        tool_name=tool,
        permission_mode=mode,
        received_at=time.time(),
    )
    if not request.app.state.hooks.add(event):
        raise ApiProblem(
            403,
            "This session reports with another person's key: each Claude Code session "
            "reports with the key of the person running it.",
            "session_of_another_principal",
        )
    return Response(status_code=204)
