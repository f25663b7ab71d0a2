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
ANTHROPIC_ROLES = frozenset({"user", "assistant"})


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
    """`messages` (and `system`) of an Anthropic-format request: objects with role user
    or assistant and a content that is text or a list of typed blocks."""
    if not isinstance(messages, list) or not messages:
        raise errors.bad_request("messages: must be a non-empty array.")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise errors.bad_request(f"messages.{i}: must be an object.")
        if message.get("role") not in ANTHROPIC_ROLES:
            raise errors.bad_request(f"messages.{i}.role: must be 'user' or 'assistant'.")
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
