"""The most a request can cost: what its budget reservation holds until it is settled.

A reservation must be an upper bound of the real cost, or concurrent requests can spend
past a hard limit (each one admitted against an estimate it then exceeds). The bound is
in tokens; `api.reserve_budget` prices it (input at the higher of the input and the
cached-input price, output at the output price) and caps it by the model's registry:

- **Text** is at most one token per byte of the request body. Byte-level BPE tokenizers
  (OpenAI's, Anthropic's) never make a token of less than one byte, and the JSON around
  the text (keys, quotes, escapes) is more bytes than the few tokens of formatting a
  provider adds per message.
- **Tools** add up to TOOLS_TOKENS on top of their definitions (Anthropic's tool-use
  system prompt is 346 tokens, computer use about 1,200 with its definition).
- **Images** cost by pixels, not bytes: each image part counts IMAGE_TOKENS, above every
  provider's own rule (OpenAI: at most 1,445 for gpt-4o at high detail, 2,642 for the
  patch-priced models; Anthropic: about 1,600, 4,784 at Opus 4.7's high resolution;
  Gemini: 258 to 1,120), and its base64 bytes are not counted as text.
- **Audio** counts its base64 bytes, one token each: more than OpenAI's 10 audio tokens a
  second at any real bitrate (a second is over 1,000 bytes), even priced as text.
- **Documents and files** (PDF pages are billed as text plus an image each, files by id
  have no size here), **server-side tools** (web search, web fetch, code execution, MCP
  servers: what they fetch is billed as input) have no bound we can compute: the request
  is reserved at the model's whole context window.
- **Output** is max_tokens (OpenAI: max_completion_tokens, else max_tokens, else the
  model's maximum) for each of `n` choices (or `best_of`); Anthropic's thinking budget
  when it is larger than max_tokens (interleaved thinking allows that); a predicted
  output's bytes, which are billed as output when rejected.

Only a team with a budget pays for this walk over the request (`Gateway.admit`).
"""

from dataclasses import dataclass

IMAGE_TOKENS = 6_000
TOOLS_TOKENS = 1_000
MAX_CHOICES = 128  # OpenAI's limit on n

IMAGE_PARTS = frozenset({"image_url", "image", "input_image"})
UNBOUNDED_PARTS = frozenset({"document", "file", "input_file", "container_upload"})
# A request body that mentions none of these has no media part: the walk is skipped.
MEDIA_MARKERS = (b'"image', b'"document"', b'"file"', b'"input_file"', b'"container_upload"')
# Tools the caller defines and runs; any other Anthropic tool type runs on the provider.
CLIENT_TOOL_TYPES = frozenset({None, "custom", "function"})
CLIENT_TOOL_PREFIXES = ("bash_", "text_editor_", "computer_", "memory_")


LONG_CONTEXT_BETA = "context-1m"  # Anthropic's beta: a million tokens of context
LONG_CONTEXT_WINDOW = 1_000_000


@dataclass(frozen=True)
class Bound:
    """At most this many tokens: input (None: no bound, the model's context window),
    output per choice (None: the model's maximum output), choices, and a context window
    larger than the model's that the request was granted (a beta), if any."""

    input_tokens: int | None
    output_tokens: int | None
    choices: int = 1
    context_window: int | None = None


def openai_chat(body: dict, raw: bytes) -> Bound:
    choices = max(as_count(body.get("n")), as_count(body.get("best_of")))
    output = positive(body.get("max_completion_tokens")) or positive(body.get("max_tokens"))
    prediction = body.get("prediction")
    if output is not None and isinstance(prediction, dict):
        output += len(str(prediction.get("content", "")).encode())
    unbounded = "web_search_options" in body
    return Bound(
        None if unbounded else input_bound(body.get("messages"), raw, bool(body.get("tools"))),
        output,
        min(choices, MAX_CHOICES),
    )


def anthropic_messages(body: dict, raw: bytes, beta: str | None = None) -> Bound:
    window = LONG_CONTEXT_WINDOW if beta and LONG_CONTEXT_BETA in beta else None
    output = positive(body.get("max_tokens"))
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and (budget := positive(thinking.get("budget_tokens"))):
        output = max(output or 0, budget)
    tools = body.get("tools")
    unbounded = bool(body.get("mcp_servers")) or (
        isinstance(tools, list) and any(runs_on_the_provider(t) for t in tools)
    )
    if unbounded:
        return Bound(None, output, context_window=window)
    input_tokens = input_bound(body.get("messages"), raw, bool(tools))
    if input_tokens is not None and body.get("system") is not None:
        input_tokens = media(body["system"], input_tokens)
    return Bound(input_tokens, output, context_window=window)


# Responses API tools the caller runs; any other type runs on the provider (web search,
# file search, code interpreter, MCP, image generation, …).
RESPONSES_CLIENT_TOOLS = frozenset({"function", "custom", "namespace", "local_shell", "shell",
                                    "apply_patch"})  # fmt: skip


def openai_responses(body: dict, raw: bytes) -> Bound:
    """`body` with its whole input (previous turns expanded), `raw` the bytes of it."""
    output = positive(body.get("max_output_tokens"))
    tools = body.get("tools")
    if isinstance(tools, list) and any(
        isinstance(t, dict) and t.get("type") not in RESPONSES_CLIENT_TOOLS for t in tools
    ):
        return Bound(None, output)
    items = body.get("input")
    # A function call's output may hold images too: read it as a message's content.
    messages = [
        {"content": item.get("output")} if item.get("type") == "function_call_output" else item
        for item in (items if isinstance(items, list) else ())
        if isinstance(item, dict)
    ]
    return Bound(input_bound(messages, raw, bool(tools)), output)


def embeddings(raw: bytes) -> Bound:
    return Bound(len(raw), 0)


def input_bound(messages, raw: bytes, has_tools: bool) -> int | None:
    """The input's tokens: one per byte of the body, images at IMAGE_TOKENS instead of
    their bytes; None when a part has no bound."""
    tokens = len(raw) + (TOOLS_TOKENS if has_tools else 0)
    if not any(marker in raw for marker in MEDIA_MARKERS):
        return tokens
    for message in messages if isinstance(messages, list) else ():
        if isinstance(message, dict) and (tokens := media(message.get("content"), tokens)) is None:
            return None
    return tokens


def media(content, tokens: int) -> int | None:
    """`tokens` with the content parts of `content` (and of tool results within it)
    accounted as their kind costs; None for a part without a bound."""
    if not isinstance(content, list):
        return tokens
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in UNBOUNDED_PARTS:
            return None
        if kind in IMAGE_PARTS:
            tokens += IMAGE_TOKENS - min(embedded_bytes(part), tokens)
        elif kind == "tool_result" and (tokens := media(part.get("content"), tokens)) is None:
            return None
    return tokens


def embedded_bytes(part: dict) -> int:
    """The length of an image part's URL or base64 data (ASCII: characters are bytes)."""
    source = part.get("image_url") or part.get("source")
    if isinstance(source, dict):
        source = source.get("url") or source.get("data")
    return len(source) if isinstance(source, str) else 0


def runs_on_the_provider(tool) -> bool:
    """An Anthropic server tool (web search, web fetch, code execution, …)."""
    if not isinstance(tool, dict):
        return False
    kind = tool.get("type")
    return kind not in CLIENT_TOOL_TYPES and not str(kind).startswith(CLIENT_TOOL_PREFIXES)


def as_count(value) -> int:
    """`n` / `best_of`: a positive integer, else 1 (validation refuses the rest)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def positive(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
