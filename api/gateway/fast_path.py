"""The model endpoints served straight from the ASGI server, ahead of FastAPI.

Every model call would otherwise pass FastAPI's middleware (error, telemetry and body-limit
wrappers), its router (a pattern match against each route in turn), its dependency solver
and its response wrapping: work that buys nothing here, since these endpoints take only
the request, bound their bodies themselves (openai_api.json_body) and answer every error
in their caller's dialect. Their FastAPI routes stay registered, for the OpenAPI document
and for other methods (405).
"""

import logging

from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request

from api.gateway import anthropic_api, errors, openai_api, responses_api
from api.gateway.service import ADMISSION

log = logging.getLogger("aigw.gateway")

ROUTES = {
    "/v1/chat/completions": (openai_api.chat_completions, openai_api.WIRE),
    "/v1/embeddings": (openai_api.embeddings, openai_api.WIRE),
    "/anthropic/v1/messages": (anthropic_api.messages, anthropic_api.WIRE),
    "/v1/responses": (responses_api.create_response, responses_api.WIRE),
}
# Endpoints whose answers say what the cache did; one refused before the cache was asked
# (a bad key, a bad body) says `bypass`.
CACHED = frozenset({"/v1/chat/completions", "/anthropic/v1/messages", "/v1/responses"})


class GatewayApp(FastAPI):
    """FastAPI, but POSTs to ROUTES go to their endpoint directly."""

    async def __call__(self, scope, receive, send):
        route = (
            ROUTES.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if route is None:
            return await super().__call__(scope, receive, send)
        scope["app"] = self  # what Request.app reads, as Starlette would set it
        endpoint, wire = route
        try:
            response = await endpoint(Request(scope, receive))
        except ClientDisconnect:  # gone while sending its body: recorded, nobody to answer
            if (admission := scope.get(ADMISSION)) is not None:
                self.state.gateway.finish(
                    admission, status=499, error_type="client_disconnected", disconnected=True
                )
            return
        except Exception:  # an answer in the caller's dialect, whatever went wrong
            log.exception("unexpected error on %s", scope["path"])
            error = errors.internal_error()
            if (admission := scope.get(ADMISSION)) is not None:
                # Recorded like any other answer, and a budget reservation released.
                self.state.gateway.reject(admission, error)
            response = error.response(wire)
        if scope["path"] in CACHED and "x-aigw-cache" not in response.headers:
            response.headers["x-aigw-cache"] = "bypass"
        await response(scope, receive, send)
