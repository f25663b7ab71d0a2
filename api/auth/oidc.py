"""Single sign-on with Entra ID (any OpenID Connect provider): /auth/oidc/login sends the
browser to the provider, /auth/oidc/callback brings it back signed in.

The flow is the authorization code flow with PKCE (S256). The login's `state`, `nonce`
and code verifier live in a signed cookie (sso_state.py); the callback accepts a state
once (api.use_sso_state), redeems the code, checks the ID token (id_token.py), maps the
identity to a user (api.sso_sign_in: by subject, else the account with that email, else
a new one) and opens a session like a password login.
"""

import hmac
import json
import logging
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from api.auth import sso_state
from api.auth.errors import ApiProblem, responses
from api.auth.id_token import Identity
from api.auth.login import open_session
from api.auth.oidc_provider import OidcProvider
from api.request_bodies import SignInRoute

router = APIRouter(prefix="/oidc", tags=["auth"], route_class=SignInRoute)
logger = logging.getLogger(__name__)
CALLBACK_PATH = "/auth/oidc/callback"
USED_STATE_MARGIN_S = 300

SSO_OFF = (
    "Single sign-on is not configured: set OIDC_ISSUER, OIDC_CLIENT_ID and "
    "OIDC_CLIENT_SECRET (see the README's single sign-on section)."
)
SIGN_IN_AGAIN = "Start again at /auth/oidc/login."


def provider(request: Request) -> OidcProvider:
    found = getattr(request.app.state, "oidc", None)
    if found is None:
        raise ApiProblem(404, SSO_OFF, "sso_not_configured")
    return found


def redirect_uri(request: Request, oidc: OidcProvider) -> str:
    # Must be registered with the provider exactly; behind a proxy that rewrites the
    # scheme or host, set OIDC_REDIRECT_URL.
    return oidc.settings.redirect_url or str(request.url_for("oidc_callback"))


@router.get(
    "/login",
    summary="Sign in with single sign-on: redirects to the identity provider (Entra ID)",
    status_code=303,
    response_class=RedirectResponse,
    responses={303: {"description": "To the identity provider"}} | responses(404, 502),
)
async def oidc_login(
    request: Request,
    # Not validated here: anything but a path on this site (too long included) becomes "/".
    next_path: str = Query("/", alias="next", description="A path on this site to return to"),
    stay_signed_in: bool = False,
) -> Response:
    oidc = provider(request)
    login = sso_state.LoginState.new(sso_state.safe_next(next_path), stay_signed_in)
    url = await oidc.authorization_url(login, redirect_uri(request, oidc))
    response = RedirectResponse(url, status_code=303)
    sso_state.set_state_cookie(
        request, response, sso_state.seal(login, sso_state.signing_key(oidc.settings.state_secret))
    )
    return response


@router.get(
    "/callback",
    name="oidc_callback",
    summary="Where the identity provider returns: signs in and redirects to `next`",
    status_code=303,
    response_class=RedirectResponse,
    responses={303: {"description": "Signed in: to the page the login named"}}
    | responses(400, 401, 403, 404, 502),
)
async def oidc_callback(
    request: Request,
    code: str | None = Query(None, max_length=4096),
    state: str | None = Query(None, max_length=512),
    error: str | None = Query(None, max_length=200),
) -> Response:
    oidc = provider(request)
    try:
        return await _complete(request, oidc, code, state, error)
    except ApiProblem as problem:
        # The login is over, whatever happened: its cookie goes.
        cleared = Response()
        sso_state.clear_state_cookie(request, cleared)
        problem.headers["set-cookie"] = cleared.headers["set-cookie"]
        logger.info("single sign-on refused: %s", problem.code)
        key = sso_state.signing_key(oidc.settings.state_secret)
        if sso_state.unseal(request.cookies.get(sso_state.STATE_COOKIE), key) is not None:
            await _audit_refusal(request, problem)
        raise


async def _audit_refusal(request: Request, problem: ApiProblem) -> None:
    """A refused sign-in that this server started (its signed state cookie came back) is
    audited; anonymous requests without one are only logged: anyone can send those by the
    thousand, and the audit log keeps every row forever."""
    detail = json.dumps({"reason": problem.code, "status": problem.status})
    try:
        async with request.app.state.pool.acquire() as conn:
            await conn.execute("select api.record_auth_event('auth.sso_refused', null, $1)", detail)
    except (OSError, asyncpg.PostgresError) as exc:
        logger.warning("could not record a refused sign-on: %s", type(exc).__name__)


async def _complete(
    request: Request, oidc: OidcProvider, code: str | None, state: str | None, error: str | None
) -> Response:
    if error:
        # e.g. access_denied: the user cancelled, or the provider refused them. Nothing is
        # granted, so this needs no state (some providers send none with an error).
        reason = error if error.replace("_", "").isalnum() else "an error"
        raise ApiProblem(
            401, f"The identity provider did not sign you in ({reason}).", "sso_denied"
        )
    key = sso_state.signing_key(oidc.settings.state_secret)
    login = sso_state.unseal(request.cookies.get(sso_state.STATE_COOKIE), key)
    if login is None:
        raise ApiProblem(
            400,
            "No single sign-on was started in this browser, or it took longer than 10 "
            "minutes. " + SIGN_IN_AGAIN,
            "sso_state_missing",
        )
    if not state or not hmac.compare_digest(state.encode(), login.state.encode()):
        raise ApiProblem(
            400,
            "This sign-in response does not belong to the sign-in started in this browser. "
            + SIGN_IN_AGAIN,
            "sso_state_mismatch",
        )
    # Remembered a while past the cookie's expiry: the database's clock may run ahead.
    expires_at = datetime.fromtimestamp(login.expires_at + USED_STATE_MARGIN_S, UTC)
    async with request.app.state.pool.acquire() as conn:
        first_use = await conn.fetchval(
            "select api.use_sso_state($1, $2)", login.digest(), expires_at
        )
    if not first_use:
        raise ApiProblem(
            400, "This sign-in response was used already. " + SIGN_IN_AGAIN, "sso_state_used"
        )
    if not code:
        raise ApiProblem(400, "The sign-in response has no code. " + SIGN_IN_AGAIN, "sso_no_code")
    identity = await oidc.identity(code, login, redirect_uri(request, oidc))
    user_id = await _sign_in(request, oidc, identity)
    response = RedirectResponse(login.next, status_code=303)
    await open_session(request, response, user_id, stay=login.stay, method="sso")
    sso_state.clear_state_cookie(request, response)
    return response


async def _sign_in(request: Request, oidc: OidcProvider, identity: Identity) -> UUID:
    try:
        async with request.app.state.pool.acquire() as conn:
            return await conn.fetchval(
                "select api.sso_sign_in($1, $2, $3, $4, $5, $6)",
                identity.issuer,
                identity.subject,
                identity.email,
                identity.display_name,
                oidc.settings.default_role,
                identity.email_trusted,
            )
    except asyncpg.PostgresError as exc:
        message = str(exc).capitalize() + "."
        if getattr(exc, "hint", None):
            message += " " + exc.hint
        if exc.sqlstate == "AIG02":
            raise ApiProblem(403, message, "account_suspended") from None
        if exc.sqlstate == "AIG03":
            raise ApiProblem(403, message, "sso_identity_refused") from None
        if exc.sqlstate == "AIG06":  # the token lacks a subject or an email
            raise ApiProblem(403, message, "sso_identity_incomplete") from None
        raise


class RedactCallbackQuery(logging.Filter):
    """uvicorn's access log writes each request's path with its query string: the
    callback's holds an authorization code and a state, which stay out of logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (
            isinstance(args, tuple)
            and len(args) >= 3
            and isinstance(args[2], str)
            and args[2].startswith(CALLBACK_PATH + "?")
        ):
            record.args = (*args[:2], CALLBACK_PATH + "?[redacted]", *args[3:])
        return True


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactCallbackQuery) for f in access.filters):
        access.addFilter(RedactCallbackQuery())
