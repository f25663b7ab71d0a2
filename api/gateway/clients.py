"""Which client sent a request, from its User-Agent: what the event log records, so
that usage can be told apart by tool (Claude Code, Codex, the SDKs, scripts).

Known clients get their common name; any other is its first product token (the name
before the first "/"), lower-cased and cut to the characters a name needs. Nothing else
of the header is kept (versions, platforms, …).
"""

import functools
import re

# (prefix of the User-Agent, the client's name), the first match wins
KNOWN = (
    ("claude-cli/", "claude-cli"),  # Claude Code and the Agent SDK
    ("claude-code/", "claude-cli"),
    ("codex_", "codex"),  # codex_exec/…, codex_cli_rs/…, codex_vscode/…
    ("codex/", "codex"),
    ("OpenAI/Python", "openai-python"),
    ("AsyncOpenAI/Python", "openai-python"),
    ("OpenAI/JS", "openai-js"),
    ("Anthropic/Python", "anthropic-python"),
    ("AsyncAnthropic/Python", "anthropic-python"),
    ("Anthropic/JS", "anthropic-js"),
    ("litellm/", "litellm"),
    ("curl/", "curl"),
    ("python-httpx/", "python-httpx"),
    ("python-requests/", "python-requests"),
    ("aiohttp/", "aiohttp"),
)
PRODUCT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,39}")


@functools.lru_cache(maxsize=512)  # the same few User-Agents, request after request
def client_name(user_agent: str | None) -> str | None:
    if not user_agent:
        return None
    for prefix, name in KNOWN:
        if user_agent.startswith(prefix):
            return name
    found = PRODUCT.match(user_agent.strip())
    return found.group(0).lower() if found else None
