"""Claude Code's HTTP hooks (POST /hooks/claude-code): answered at once, recorded in the
background with only the event, session, tool name and permission mode, never a prompt,
a tool's input or output, or a path; and `aigw hooks print`."""

import json
import subprocess
import time
import uuid

import httpx
import psycopg
import pytest
from psycopg import sql

from api.app import create_app
from api.gateway.config import load_config
from api.hooks.settings import EVENTS
from tests.faults import proxied_postgres
from tests.helpers import AIGW, operator_call, personal_key, serving

HOOK_PATH = "/hooks/claude-code"


def hook(url: str, key: str | None, body, **kw) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    if isinstance(body, bytes):
        return httpx.post(f"{url}{HOOK_PATH}", content=body, headers=headers, **kw)
    return httpx.post(f"{url}{HOOK_PATH}", json=body, headers=headers, **kw)


def hook_rows(db, session: str | None = None) -> list[tuple]:
    return operator_call(
        db.admin,
        "select user_id::text, session_id, hook_event_name, tool_name, permission_mode"
        " from events.hooks where %(s)s::text is null or session_id = %(s)s order by id",
        {"s": session},
    )


def wait_for_hooks(db, count: int, session: str | None = None, timeout: float = 10) -> list:
    deadline = time.monotonic() + timeout
    while len(rows := hook_rows(db, session)) < count:
        assert time.monotonic() < deadline, rows
        time.sleep(0.05)
    return rows


def body_of(session: str, name: str, **extra) -> dict:
    return {
        "session_id": session,
        "hook_event_name": name,
        "cwd": "/home/dev/project",
        "transcript_path": f"/home/dev/.claude/projects/p/{session}.jsonl",
        **extra,
    }


def test_every_event_is_answered_at_once_and_recorded_under_its_user(gateway):
    user_id, key = personal_key(gateway.db, "dev@example.com")
    session = str(uuid.uuid4())
    events = [
        body_of(session, "SessionStart", source="startup"),
        body_of(session, "UserPromptSubmit", prompt="fix the build", permission_mode="default"),
        body_of(
            session,
            "PreToolUse",
            tool_name="Bash",
            tool_input={"command": "make test"},
            permission_mode="acceptEdits",
        ),
        body_of(session, "PostToolUse", tool_name="Bash", tool_response={"stdout": "ok"}),
        body_of(session, "Stop", stop_hook_active=False),
        body_of(session, "SessionEnd", reason="exit"),
    ]
    for event in events:
        started = time.perf_counter()
        answer = hook(gateway.url, key, event)
        assert answer.status_code == 204 and answer.content == b"", answer.text
        assert time.perf_counter() - started < 1.0
    rows = wait_for_hooks(gateway.db, 6)
    assert rows == [
        (user_id, session, "SessionStart", None, None),
        (user_id, session, "UserPromptSubmit", None, "default"),
        (user_id, session, "PreToolUse", "Bash", "acceptEdits"),
        (user_id, session, "PostToolUse", "Bash", None),
        (user_id, session, "Stop", None, None),
        (user_id, session, "SessionEnd", None, None),
    ]
    # The Anthropic SDK's header does as well as a bearer token.
    answer = httpx.post(
        f"{gateway.url}{HOOK_PATH}", json=body_of(session, "Stop"), headers={"x-api-key": key}
    )
    assert answer.status_code == 204
    wait_for_hooks(gateway.db, 7)


def every_row_holding(admin_url: str, marker: str) -> list[str]:
    """Every table of the database (any schema but the catalogs') with a row whose text
    (every column, json and arrays included, as the row's text form) holds `marker`."""
    found = []
    with psycopg.connect(admin_url) as conn:
        tables = conn.execute(
            "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where c.relkind in ('r', 'p', 'm')"
            " and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')"
        ).fetchall()
        assert len(tables) > 20  # the whole schema, not an empty database
        for schema, table in tables:
            query = sql.SQL("select count(*) from {}.{} t where strpos(t::text, %s) > 0").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            if conn.execute(query, (marker,)).fetchone()[0]:
                found.append(f"{schema}.{table}")
    return found


def test_no_prompt_tool_input_output_or_path_reaches_the_database(gateway):
    _, key = personal_key(gateway.db, "dev@example.com")
    marker = "zq" + uuid.uuid4().hex  # in every field the hook must not keep
    session = str(uuid.uuid4())
    secret_fields = {
        "prompt": f"please refactor {marker}",
        "cwd": f"/home/dev/{marker}",
        "transcript_path": f"/home/dev/.claude/{marker}.jsonl",
        "tool_input": {"file_path": f"/src/{marker}.py", "content": marker},
        "tool_response": {"filePath": f"/src/{marker}.py", "stdout": marker},
        "message": marker,
        "source": marker,
        "reason": marker,
        "last_assistant_message": marker,
    }
    for name in EVENTS:
        fields = {"tool_name": "Write"} if "Tool" in name else {}
        answer = hook(
            gateway.url,
            key,
            {"session_id": session, "hook_event_name": name} | secret_fields | fields,
        )
        assert answer.status_code == 204
    # A refused hook does not keep it either, nor echo it back.
    refused = hook(gateway.url, key, {"hook_event_name": "Stop", "prompt": marker})
    assert refused.status_code == 400 and marker not in refused.text
    rows = wait_for_hooks(gateway.db, len(EVENTS))
    assert {r[2] for r in rows} == set(EVENTS)
    assert every_row_holding(gateway.db.admin, marker) == []
    assert every_row_holding(gateway.db.admin, session) == ["events.hooks"]  # the scan finds


BAD = [
    (b"{not json", 400, "invalid_json"),
    (b"[1, 2]", 400, "invalid_hook"),
    (json.dumps({"hook_event_name": "Stop"}).encode(), 400, "invalid_hook"),
    (json.dumps({"session_id": "s1"}).encode(), 400, "invalid_hook"),
    (json.dumps({"session_id": "", "hook_event_name": "Stop"}).encode(), 400, "invalid_hook"),
    (json.dumps({"session_id": "s\x01", "hook_event_name": "Stop"}).encode(), 400, "invalid_hook"),
    (json.dumps({"session_id": "s" * 129, "hook_event_name": "Stop"}).encode(), 400, "invalid_hook"),
    (json.dumps({"session_id": "s1", "hook_event_name": "Stop; drop"}).encode(), 400, "invalid_hook"),
    (json.dumps({"session_id": "s1", "hook_event_name": "Stop", "tool_name": 7}).encode(), 400, None),
    (json.dumps({"session_id": "s1", "hook_event_name": "Stop", "x": "a" * 70_000}).encode(), 413, None),
]  # fmt: skip


def test_bad_hooks_are_clear_json_errors_and_write_nothing(gateway):
    _, key = personal_key(gateway.db, "dev@example.com")
    for body, status, code in BAD:
        answer = hook(gateway.url, key, body)
        assert answer.status_code == status, (body[:60], answer.text)
        error = answer.json()["error"]
        assert error["message"] and (code is None or error["code"] == code), error
    good = json.dumps({"session_id": "s1", "hook_event_name": "Stop"}).encode()
    for key_sent, code in ((None, "missing_api_key"), ("sk-aigw-nope", "invalid_api_key")):
        answer = hook(gateway.url, key_sent, good)
        assert answer.status_code == 401 and answer.json()["error"]["code"] == code
    assert hook(gateway.url, key, good).status_code == 204  # then one that is fine
    assert wait_for_hooks(gateway.db, 1)[0][1:3] == ("s1", "Stop")
    time.sleep(0.3)
    assert len(hook_rows(gateway.db)) == 1


def test_a_session_is_its_first_users(gateway):
    alice, alice_key = personal_key(gateway.db, "alice@example.com")
    _, bob_key = personal_key(gateway.db, "bob@example.com")
    session = str(uuid.uuid4())
    assert hook(gateway.url, alice_key, body_of(session, "SessionStart")).status_code == 204
    # Seen by this gateway: refused at once.
    answer = hook(gateway.url, bob_key, body_of(session, "Stop"))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "session_of_another_principal"
    # Recorded before this gateway started (or by another replica): the database refuses
    # it when it is recorded; the hook was answered already.
    earlier = str(uuid.uuid4())
    operator_call(
        gateway.db.admin,
        "select api.record_hook_event(k.id, k.owner_user_id, null, k.team_id, %s, 'Stop', null,"
        " null) from iam.api_keys k where k.owner_user_id = %s",
        (earlier, alice),
    )
    assert hook(gateway.url, bob_key, body_of(earlier, "Stop")).status_code == 204
    assert hook(gateway.url, alice_key, body_of(earlier, "SessionEnd")).status_code == 204
    rows = wait_for_hooks(gateway.db, 2, earlier)
    time.sleep(0.3)
    assert hook_rows(gateway.db, earlier) == [
        (alice, earlier, "Stop", None, None),
        (alice, earlier, "SessionEnd", None, None),
    ]
    assert [r[0] for r in hook_rows(gateway.db, session)] == [alice]
    assert rows


@pytest.fixture
def gateway_behind_a_proxy(db, redis_url, mock_upstream, tmp_path):
    mock_url, _ = mock_upstream
    proxy, url = proxied_postgres(db.app)
    operator_call(db.admin, "select api.create_team('t1')")
    app = create_app(
        url,
        redis_url,
        gateway_config=load_config(env={}, mock_provider_url=mock_url),
        spool_dir=tmp_path,
    )
    try:
        with serving(app) as served:
            yield served, proxy
    finally:
        proxy.close()


@pytest.mark.timeout(60)
def test_while_the_database_is_away_hooks_are_answered_at_once_and_recorded_later(
    db, gateway_behind_a_proxy
):
    url, proxy = gateway_behind_a_proxy
    _, key = personal_key(db, "dev@example.com")
    session = str(uuid.uuid4())
    assert hook(url, key, body_of(session, "SessionStart")).status_code == 204  # key cached
    wait_for_hooks(db, 1)
    proxy.down()
    try:
        for name in ("UserPromptSubmit", "Stop"):
            started = time.perf_counter()
            answer = hook(url, key, body_of(session, name), timeout=5)
            assert answer.status_code == 204
            assert time.perf_counter() - started < 0.5
        time.sleep(1.5)
    finally:
        proxy.up()
    rows = wait_for_hooks(db, 3, timeout=20)
    assert [r[2] for r in rows] == ["SessionStart", "UserPromptSubmit", "Stop"]


def test_aigw_hooks_print_gives_the_settings_block_for_every_event():
    done = subprocess.run(
        [*AIGW, "hooks", "print", "--url", "https://aigw.example.com/"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    settings = json.loads(done.stdout)
    assert list(settings) == ["hooks"] and list(settings["hooks"]) == list(EVENTS)
    assert set(EVENTS) >= {"SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"}
    for name, matchers in settings["hooks"].items():
        (matcher,) = matchers
        assert matcher.get("matcher") == ("*" if "Tool" in name else None)
        (entry,) = matcher["hooks"]
        if name == "SessionStart":  # Claude Code runs only command hooks for it
            assert entry["type"] == "command"
            assert "https://aigw.example.com/hooks/claude-code" in entry["command"]
            assert '"Authorization: Bearer $AIGW_API_KEY"' in entry["command"]
            continue
        assert entry["type"] == "http"
        assert entry["url"] == "https://aigw.example.com/hooks/claude-code"
        assert entry["headers"] == {"Authorization": "Bearer $AIGW_API_KEY"}
        assert entry["allowedEnvVars"] == ["AIGW_API_KEY"]
    wrong = subprocess.run(
        [*AIGW, "hooks", "print", "--url", "aigw.example.com"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert wrong.returncode != 0 and "--url must be an http(s) URL" in wrong.stderr
