"""The `hooks` block of Claude Code's settings.json that reports to the gateway: what
`aigw hooks print` prints. Kept apart from the endpoint so that the CLI imports nothing
of the server to print it.

Claude Code's HTTP hooks (`"type": "http"`) POST each event's JSON to `url`; a header
value's `$VAR` is replaced by that environment variable only when `allowedEnvVars`
lists it (otherwise by nothing), so the key stays in the developer's environment, not in
a settings file. `matcher` matters only for the tool events (`*`: every tool).

SessionStart is the exception: Claude Code runs only `command` hooks for it (an HTTP hook
there is skipped without a word: anthropics/claude-code#30170). Its hook is a `curl` that
POSTs the event's JSON (on its stdin) to the same endpoint with the same header, silent
(what a SessionStart hook prints goes into the model's context) and never failing the
session.
"""

import shlex

PATH = "/hooks/claude-code"
# The events session classification reads.
EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SessionEnd")
TOOL_EVENTS = frozenset({"PreToolUse", "PostToolUse"})
KEY_VARIABLE = "AIGW_API_KEY"
# How long Claude Code waits for an answer at most, in seconds: the gateway answers at
# once, so this bounds only a gateway that cannot be reached.
HOOK_TIMEOUT_S = 5


def settings_block(url: str) -> dict:
    """The `hooks` of Claude Code's settings.json that report every event classification
    reads to the gateway at `url`, with the key from $AIGW_API_KEY."""
    hook = {
        "type": "http",
        "url": url.rstrip("/") + PATH,
        "headers": {"Authorization": f"Bearer ${KEY_VARIABLE}"},
        "allowedEnvVars": [KEY_VARIABLE],
        "timeout": HOOK_TIMEOUT_S,
    }
    posted = {name: hook for name in EVENTS}
    posted["SessionStart"] = {
        "type": "command",
        "command": (
            f"curl -sS -o /dev/null -m {HOOK_TIMEOUT_S} -X POST"
            f' -H "Authorization: Bearer ${KEY_VARIABLE}" -H "Content-Type: application/json"'
            f" --data-binary @- {shlex.quote(hook['url'])} >/dev/null 2>&1 || true"
        ),
        "timeout": HOOK_TIMEOUT_S,
    }
    return {
        "hooks": {
            name: [
                {"matcher": "*", "hooks": [posted[name]]}
                if name in TOOL_EVENTS
                else {"hooks": [posted[name]]}
            ]
            for name in EVENTS
        }
    }
