"""The clients people run, against the gateway and its mock provider: Claude Code
(`claude -p`) through /anthropic and Codex (`codex exec`) through the Responses API,
both finishing their work (tools included) and recorded as one session each; and Claude
Code with the HTTP hooks `aigw hooks print` configures, reporting that session, which
the analytics marts classify as autonomous.

They run whenever Node.js is present; tests/clients.py installs both from npm once, into
a cache outside the checkout.
"""

import json
import os
import subprocess
import textwrap
import time
import uuid

import pytest

from tests import clients
from tests.helpers import AIGW, personal_key
from tests.test_hooks import every_row_holding, hook_rows

CLIENT_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def installed():
    if not clients.node_available():
        pytest.skip("Node.js and npm are needed to run Claude Code and Codex")
    return clients.ensure_clients()


def run(command: list[str], env: dict, cwd) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "TERM": "dumb"}
    return subprocess.run(
        command,
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def events_of(gateway, endpoint: str, count: int, timeout: float = 10) -> list:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in gateway.events.events if e.endpoint == endpoint]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def claude(
    installed, gateway, tmp_path, *args: str, key: str | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    env = {
        **(env or {}),
        "HOME": str(tmp_path),  # a fresh configuration: no login, no settings
        "ANTHROPIC_BASE_URL": f"{gateway.url}/anthropic",
        "ANTHROPIC_API_KEY": key or gateway.key,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    return run([clients.binary(installed, "claude"), "-p", *args], env, tmp_path)


def codex(installed, gateway, tmp_path, prompt: str) -> subprocess.CompletedProcess:
    home = tmp_path / "codex"
    home.mkdir()
    (home / "config.toml").write_text(
        textwrap.dedent(
            f"""\
            model = "gpt-4o"
            model_provider = "aigw"

            [model_providers.aigw]
            name = "aigw"
            base_url = "{gateway.url}/v1"
            env_key = "AIGW_KEY"
            wire_api = "responses"
            """
        )
    )
    env = {"HOME": str(tmp_path), "CODEX_HOME": str(home), "AIGW_KEY": gateway.key}
    command = [clients.binary(installed, "codex"), "exec", "--skip-git-repo-check", prompt]
    return run(command, env, tmp_path)


def test_claude_code_answers_and_is_one_session(installed, gateway, tmp_path):
    done = claude(installed, gateway, tmp_path, "Say hello")
    assert done.returncode == 0, done.stderr
    assert "] You said: Say hello" in done.stdout
    events = events_of(gateway, "/anthropic/v1/messages", 1)
    assert events and all(e.status == 200 for e in events)
    assert {e.client for e in events} == {"claude-cli"}
    (session,) = {e.session_id for e in events}
    assert session  # Claude Code's own session id, recorded


def test_claude_code_runs_a_tool_and_finishes(installed, gateway, tmp_path):
    done = claude(
        installed,
        gateway,
        tmp_path,
        "Use the Bash tool to run: echo hi-from-claude",
        "--allowedTools",
        "Bash",
    )
    assert done.returncode == 0, done.stderr
    # The mock called Bash, Claude Code ran it, the mock answered from its output.
    assert "The Bash tool returned: hi-from-claude" in done.stdout
    events = events_of(gateway, "/anthropic/v1/messages", 2)
    assert [e.tool_calls for e in events][-2:] == [1, 0]
    assert len({e.session_id for e in events}) == 1


def test_codex_answers_through_the_responses_api(installed, gateway, tmp_path):
    done = codex(installed, gateway, tmp_path, "Say hello")
    assert done.returncode == 0, done.stderr
    assert "[mock gpt-4o] You said: Say hello" in done.stdout
    events = events_of(gateway, "/v1/responses", 1)
    assert events and {(e.status, e.client) for e in events} == {(200, "codex")}
    assert len({e.session_id for e in events}) == 1 and events[0].session_id


def test_codex_runs_a_command_and_finishes(installed, gateway, tmp_path):
    done = codex(installed, gateway, tmp_path, "Use exec_command: echo hi-from-codex")
    assert done.returncode == 0, done.stderr
    assert "hi-from-codex" in done.stdout + done.stderr  # Codex ran the command
    assert "The exec_command tool returned" in done.stdout
    events = events_of(gateway, "/v1/responses", 2)
    assert [e.tool_calls for e in events][-2:] == [1, 0]
    assert len({e.session_id for e in events}) == 1


def hooks_settings(gateway, tmp_path):
    """A settings file holding the hooks block `aigw hooks print` prints for the gateway."""
    printed = subprocess.run(
        [*AIGW, "hooks", "print", "--url", gateway.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    settings = tmp_path / "hooks-settings.json"
    settings.write_text(printed.stdout)
    return settings


def test_claude_code_reports_its_session_through_the_printed_hooks(installed, gateway, tmp_path):
    user_id, key = personal_key(gateway.db, "dev@example.com")
    settings = hooks_settings(gateway, tmp_path)
    marker = "zq" + uuid.uuid4().hex  # in the prompt: it must reach no table
    done = claude(
        installed,
        gateway,
        tmp_path,
        f"Say hello {marker}",
        "--settings",
        str(settings),
        key=key,
        env={"AIGW_API_KEY": key},
    )
    assert done.returncode == 0, done.stderr
    assert f"You said: Say hello {marker}" in done.stdout
    (session,) = {e.session_id for e in events_of(gateway, "/anthropic/v1/messages", 1)}
    deadline = time.monotonic() + 15
    while not {"SessionStart", "UserPromptSubmit", "Stop"} <= {r[2] for r in hook_rows(gateway.db)}:
        assert time.monotonic() < deadline, [r[2:] for r in hook_rows(gateway.db)]
        time.sleep(0.1)
    rows = hook_rows(gateway.db)
    # Claude Code's own session id on its hooks and on its model calls: one session.
    assert {(r[0], r[1]) for r in rows} == {(user_id, session)}, json.dumps(rows)
    assert every_row_holding(gateway.db.admin, marker) == []


def test_a_headless_claude_code_run_classifies_as_autonomous(installed, gateway, tmp_path):
    """`claude -p` with a tool to run and the printed hooks: its requests and hook events,
    built into the marts by dbt, make one session, and an autonomous one (one human
    prompt, the model calling a tool and answering its result, no person in between)."""
    import asyncio

    from api import analytics
    from api.events.transports import RequestLogTransport
    from tests.helpers import operator_call

    user_id, key = personal_key(gateway.db, "headless@example.com")
    settings = hooks_settings(gateway, tmp_path)
    done = claude(
        installed,
        gateway,
        tmp_path,
        "Use the Bash tool to run: echo hi-from-ci",
        "--allowedTools",
        "Bash",
        "--settings",
        str(settings),
        key=key,
        env={"AIGW_API_KEY": key},
    )
    assert done.returncode == 0, done.stderr
    assert "The Bash tool returned: hi-from-ci" in done.stdout
    events = events_of(gateway, "/anthropic/v1/messages", 2)
    (session,) = {e.session_id for e in events}
    deadline = time.monotonic() + 15
    while "Stop" not in {r[2] for r in hook_rows(gateway.db)}:
        assert time.monotonic() < deadline, [r[2:] for r in hook_rows(gateway.db)]
        time.sleep(0.1)

    # The gateway under test keeps its request events in memory: record them as the
    # event consumer would, then build the marts.
    async def record() -> None:
        transport = RequestLogTransport(gateway.db.app)
        try:
            await transport.send([e.as_dict() for e in events])
        finally:
            await transport.close()

    asyncio.run(record())
    result = analytics.build(gateway.db.admin, work_dir=tmp_path / "dbt")
    assert result.ok, "\n".join(result.output_tail[-30:])
    (row,) = operator_call(
        gateway.db.admin,
        "select session_class, request_count, human_prompt_count, is_hook_reported, user_id"
        " from analytics.sessions where session_id = %s",
        (session,),
    )
    assert row[3] is True and str(row[4]) == user_id
    assert row[2] == 1 and row[1] >= 2
    assert row[0] == "autonomous", row
