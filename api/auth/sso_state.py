"""A single sign-on in progress, carried by the browser between /auth/oidc/login and the
callback: a short-lived cookie holding the login's `state`, `nonce`, PKCE verifier and
where to go afterwards, signed (HS256) with a key derived from SECRET_KEY so that it
cannot be forged or altered.

The cookie binds the callback to the browser that started the login (login CSRF: a
callback whose `state` is not this browser's is refused). It is HttpOnly, SameSite=Lax
(sent on the identity provider's top-level redirect back, not on cross-site
subrequests), scoped to /auth/oidc and cleared by the callback, whatever its outcome.
"""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from api.auth.deps import cookie_secure

STATE_COOKIE = "aigw_oidc"
COOKIE_PATH = "/auth/oidc"
LIFETIME_S = 600
MAX_NEXT_LENGTH = 2000


@dataclass(frozen=True)
class LoginState:
    state: str
    nonce: str
    verifier: str  # PKCE code verifier
    next: str
    stay: bool
    expires_at: int

    @classmethod
    def new(cls, next_path: str, stay: bool) -> "LoginState":
        return cls(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            # RFC 7636: 43-128 characters of [A-Za-z0-9-._~]; 64 bytes give 86
            verifier=secrets.token_urlsafe(64),
            next=next_path,
            stay=stay,
            expires_at=int(time.time()) + LIFETIME_S,
        )

    def digest(self) -> bytes:
        """What the database keeps of a used state."""
        return hashlib.sha256(self.state.encode()).digest()


def signing_key(secret: bytes) -> OctKey:
    # A key of its own, derived from SECRET_KEY: the cookie signature can never be
    # confused with anything else SECRET_KEY signs.
    derived = hmac.new(secret, b"aigw sso login state", hashlib.sha256).digest()
    return OctKey.import_key(derived)


def seal(login: LoginState, key: OctKey) -> str:
    claims = {
        "state": login.state,
        "nonce": login.nonce,
        "verifier": login.verifier,
        "next": login.next,
        "stay": login.stay,
        "exp": login.expires_at,
    }
    return jwt.encode({"alg": "HS256"}, claims, key)


def unseal(cookie: str | None, key: OctKey) -> LoginState | None:
    """The login this cookie carries; None when absent, forged, altered or expired."""
    if not cookie or len(cookie) > 4096:
        return None
    try:
        claims = jwt.decode(cookie, key, algorithms=["HS256"]).claims
        jwt.JWTClaimsRegistry(exp={"essential": True}).validate(claims)
        return LoginState(
            state=str(claims["state"]),
            nonce=str(claims["nonce"]),
            verifier=str(claims["verifier"]),
            next=safe_next(claims.get("next")),
            stay=claims.get("stay") is True,
            expires_at=int(claims["exp"]),
        )
    except (JoseError, ValueError, KeyError, TypeError):
        return None


def set_state_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        STATE_COOKIE,
        value,
        max_age=LIFETIME_S,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        path=COOKIE_PATH,
    )


def clear_state_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        STATE_COOKIE,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        path=COOKIE_PATH,
    )


def safe_next(value: object) -> str:
    """A path on this site to go to after signing in, else "/": never another origin
    (`//host`, `/\\host` and `https://host` all leave the site in a browser)."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > MAX_NEXT_LENGTH:
        return "/"
    if value.startswith("//") or "\\" in value or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value
