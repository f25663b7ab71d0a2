"""The shape of a request, checked before anything is spent on it.

Providers refuse a malformed request with a 400 naming the field; so do we, before the
rate limiter, the cache or a budget reservation sees it, and before litellm tries to
translate it (litellm fails on some malformed input with a TypeError deep inside, which
says nothing to the caller). Only the structure is checked here, in one pass over the
messages: what a provider accepts within it (which content part types, which roles for
which model) is still the provider's to say.
"""

from api.gateway import errors

OPENAI_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def openai_messages(messages) -> None:
    """`messages` of an OpenAI-format chat completion: objects with a known role and a
    content that is absent, text, or a list of typed parts."""
    if not isinstance(messages, list) or not messages:
        raise errors.bad_request("'messages' must be a non-empty array.")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise errors.bad_request(f"messages[{i}]: must be an object.")
        if message.get("role") not in OPENAI_ROLES:
            raise errors.bad_request(
                f"messages[{i}].role: must be one of {', '.join(sorted(OPENAI_ROLES))}."
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            parts(content, f"messages[{i}].content", "[{}]")


def anthropic_messages(messages, system=None) -> None:
    """`messages` (and `system`) of an Anthropic-format request: objects with a role and
    a content that is text or a list of typed blocks. Which roles may appear where is
    the provider's to say: Anthropic's API grows them (Claude Code sends `system` turns
    between the others under a beta)."""
    if not isinstance(messages, list) or not messages:
        raise errors.bad_request("messages: must be a non-empty array.")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise errors.bad_request(f"messages.{i}: must be an object.")
        if not isinstance(message.get("role"), str) or not message["role"]:
            raise errors.bad_request(f"messages.{i}.role: must be a string such as 'user'.")
        content = message.get("content")
        if not isinstance(content, str):
            parts(content, f"messages.{i}.content", ".{}")
    if system is not None and not isinstance(system, str):
        parts(system, "system", ".{}")


def parts(content, where: str, index: str) -> None:
    """A list of content parts, each an object with a string `type`."""
    if not isinstance(content, list):
        raise errors.bad_request(f"{where}: must be a string or an array of content parts.")
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise errors.bad_request(
                f"{where}{index.format(j)}: must be an object with a string 'type'."
            )


MAX_CHOICES = 128  # OpenAI's limit on n


def openai_parameters(body: dict, model: str, max_output: int | None) -> None:
    """The sampling parameters of an OpenAI-format chat completion, within OpenAI's
    ranges; max_tokens within the model's output limit (`max_output`, when known)."""
    for name in ("max_tokens", "max_completion_tokens"):
        if body.get(name) is not None:
            integer(body[name], f"'{name}'", 1, max_output, model)
    if body.get("n") is not None:
        integer(body["n"], "'n'", 1, MAX_CHOICES)
    for name, low, high in (
        ("temperature", 0, 2),
        ("top_p", 0, 1),
        ("presence_penalty", -2, 2),
        ("frequency_penalty", -2, 2),
    ):
        if body.get(name) is not None:
            number(body[name], f"'{name}'", low, high)


def anthropic_parameters(body: dict, model: str, max_output: int | None) -> None:
    """The parameters of an Anthropic-format message, within Anthropic's ranges:
    max_tokens (required) within the model's output limit, temperature and top_p
    0..1, top_k 0 or more, a thinking budget of at least 1,024 tokens."""
    if body.get("max_tokens") is None:
        raise errors.bad_request("max_tokens: a positive integer is required.")
    integer(body["max_tokens"], "max_tokens", 1, max_output, model)
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            number(body[name], name, 0, 1)
    if body.get("top_k") is not None:
        integer(body["top_k"], "top_k", 0)
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        integer(thinking.get("budget_tokens"), "thinking.budget_tokens", 1024)


def integer(value, name: str, low: int, high: int | None = None, model: str | None = None):
    if not isinstance(value, int) or isinstance(value, bool):
        raise errors.bad_request(f"{name}: must be an integer, not {json_type(value)}.")
    if value < low:
        raise errors.bad_request(f"{name}: must be at least {low}, not {value}.")
    if high is not None and value > high:
        limit = f", the most {model} can produce" if model else ""
        raise errors.bad_request(f"{name}: must be at most {high}{limit}, not {value}.")


def number(value, name: str, low: float, high: float) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise errors.bad_request(f"{name}: must be a number, not {json_type(value)}.")
    if not low <= value <= high:
        raise errors.bad_request(f"{name}: must be between {low} and {high}, not {value}.")


def json_type(value) -> str:
    """What a JSON value is, in JSON's words (a message never echoes the value itself)."""
    for kind, name in ((bool, "a boolean"), (str, "a string"), (list, "an array"),
                       (dict, "an object"), (float, "a number")):  # fmt: skip
        if isinstance(value, kind):
            return name
    return "null" if value is None else "a number"


# Responses API features the gateway does not serve: conversations are kept by
# previous_response_id (stored here), and answers are given while the client waits.
UNSUPPORTED_RESPONSES_FIELDS = {
    "conversation": "use previous_response_id to continue a conversation",
    "background": "requests are answered while the client waits",
}


def responses_request(body: dict, model: str, max_output: int | None) -> None:
    """An OpenAI Responses API request: `input` text or a non-empty list of items (each
    an object with a type or a role), and its parameters within OpenAI's ranges."""
    items = body.get("input")
    if isinstance(items, str):
        if not items:
            raise errors.bad_request("'input': must not be empty.")
    elif not isinstance(items, list) or not items:
        raise errors.bad_request("'input': must be a string or a non-empty array of items.")
    else:
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(
                item.get("type") or item.get("role"), str
            ):
                raise errors.bad_request(f"input[{i}]: must be an object with a 'type' or 'role'.")
    for name, reason in UNSUPPORTED_RESPONSES_FIELDS.items():
        if body.get(name):
            raise errors.bad_request(f"'{name}' is not supported by this gateway: {reason}.")
    if body.get("max_output_tokens") is not None:
        integer(body["max_output_tokens"], "'max_output_tokens'", 1, max_output, model)
    for name, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
        if body.get(name) is not None:
            number(body[name], f"'{name}'", low, high)
    previous = body.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        raise errors.bad_request("'previous_response_id': must be a string.")
