"""The litellm path: used only when the caller's wire format differs from the
deployment's, or the provider needs its own auth (Azure, Gemini, …).

litellm takes seconds to import and reaches for the network at import unless told not
to, so it is imported here, lazily, with the local cost map (and warmed at start-up).
Its own retries are off: `Upstream.run` retries every path the same way.
"""

import os
import sys
from collections.abc import AsyncIterator

from api.gateway.config import Deployment
from api.gateway.upstream import UpstreamError, litellm_error

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# litellm's Anthropic-format adapter looks for the router of litellm's own proxy server on
# every call (`from litellm.proxy.proxy_server import llm_router`, failures ignored). That
# server is not installed with the gateway, so the import failed every time, after
# loading several modules afresh: about 7 ms a call on the translated path. Marked
# absent, it fails at once.
sys.modules.setdefault("litellm.proxy.proxy_server", None)


# What a caller may set in a request body. Everything else is dropped before litellm sees
# it: litellm would otherwise take api_base, api_key, base_url, custom_llm_provider, …
# from the body, and follow a caller-supplied upstream URL.
OPENAI_CHAT_FIELDS = {
    "messages", "stream", "stream_options", "temperature", "top_p", "n", "stop",
    "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty",
    "logit_bias", "logprobs", "top_logprobs", "user", "tools", "tool_choice",
    "parallel_tool_calls", "response_format", "seed", "reasoning_effort", "modalities",
    "prediction", "audio", "metadata", "store", "service_tier",
}  # fmt: skip
OPENAI_EMBEDDING_FIELDS = {"input", "encoding_format", "dimensions", "user"}
RESPONSES_FIELDS = {
    "input", "instructions", "max_output_tokens", "metadata", "parallel_tool_calls",
    "reasoning", "store", "stream", "temperature", "text", "tool_choice", "tools", "top_p",
    "truncation", "user", "include", "service_tier", "max_tool_calls", "top_logprobs",
}  # fmt: skip
ANTHROPIC_MESSAGE_FIELDS = {
    "messages", "max_tokens", "system", "stream", "temperature", "top_p", "top_k",
    "stop_sequences", "tools", "tool_choice", "metadata", "thinking", "service_tier",
    "output_format", "output_config",
}  # fmt: skip


def allowed(body: dict, fields: set[str]) -> dict:
    return {k: v for k, v in body.items() if k in fields}


def load_litellm():
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True  # a parameter one provider lacks is dropped, not an error
    # Translate Anthropic-format requests for OpenAI-style deployments through
    # chat/completions (what every OpenAI-compatible provider serves).
    litellm.use_chat_completions_url_for_anthropic_messages = True
    return litellm


def _params(deployment: Deployment, team_id: str, timeout_s: float) -> dict:
    params = {
        "model": deployment.litellm_model,
        "api_key": deployment.api_key,
        "timeout": timeout_s,
        "num_retries": 0,
        "max_retries": 0,
        **deployment.extra_params,
    }
    if deployment.internal:  # which team calls is ours to know, never a provider's
        params["extra_headers"] = {"x-aigw-team": team_id}
    if deployment.api_base:
        params["api_base"] = deployment.api_base
    return params


async def openai_chat(deployment: Deployment, body: dict, team_id: str, timeout_s: float):
    """An OpenAI-format chat request to any provider: a ModelResponse, or an async
    iterator of chunks when streaming."""
    litellm = load_litellm()
    request = allowed(body, OPENAI_CHAT_FIELDS)
    try:
        return await litellm.acompletion(**_params(deployment, team_id, timeout_s), **request)
    except Exception as exc:  # every litellm failure becomes an UpstreamError
        raise litellm_error(exc) from exc


async def openai_embeddings(deployment: Deployment, body: dict, team_id: str, timeout_s: float):
    litellm = load_litellm()
    request = allowed(body, OPENAI_EMBEDDING_FIELDS)
    try:
        return await litellm.aembedding(**_params(deployment, team_id, timeout_s), **request)
    except Exception as exc:
        raise litellm_error(exc) from exc


async def anthropic_messages(deployment: Deployment, body: dict, team_id: str, timeout_s: float):
    """An Anthropic-format request to any provider: a dict in Anthropic's format, or an
    async iterator of SSE event bytes when streaming."""
    litellm = load_litellm()
    request = allowed(body, ANTHROPIC_MESSAGE_FIELDS)
    params = _params(deployment, team_id, timeout_s)
    params.pop("max_retries")
    try:
        return await litellm.anthropic.messages.acreate(**params, **request)
    except Exception as exc:
        raise litellm_error(exc) from exc


async def openai_responses(deployment: Deployment, body: dict, team_id: str, timeout_s: float):
    """An OpenAI Responses API request to any provider (litellm bridges those without
    one to their chat API): a response object, or an async iterator of its events."""
    litellm = load_litellm()
    request = allowed(body, RESPONSES_FIELDS)
    params = _params(deployment, team_id, timeout_s)
    params.pop("max_retries")
    try:
        return await litellm.aresponses(**params, **request)
    except Exception as exc:
        raise litellm_error(exc) from exc


async def response_event_bytes(stream) -> AsyncIterator[bytes]:
    """litellm's Responses API events as SSE events."""
    try:
        async for event in stream:
            kind = getattr(event, "type", None) or "message"
            data = event.model_dump_json(exclude_none=True)
            yield f"event: {kind}\ndata: ".encode() + data.encode() + b"\n\n"
    except UpstreamError:
        raise
    except Exception as exc:
        raise litellm_error(exc) from exc


async def chunk_bytes(stream) -> AsyncIterator[bytes]:
    """litellm's streamed chat chunks as OpenAI SSE events."""
    try:
        async for chunk in stream:
            yield b"data: " + chunk.model_dump_json(exclude_none=True).encode() + b"\n\n"
    except UpstreamError:
        raise
    except Exception as exc:
        raise litellm_error(exc) from exc
    yield b"data: [DONE]\n\n"
