"""Identity tokens (Entra ID JWTs) as gateway credentials, verified with joserfc (the
JOSE library authlib now builds on and recommends).

A token is accepted when its signature verifies against the issuer's published keys
(JWKS, found through the issuer's OpenID configuration unless given), its issuer and
audience are the configured ones, and it has not expired. The keys are cached and
fetched again when a token names a key id we have not seen (the issuer rotated).
"""

import asyncio
import time
from dataclasses import dataclass

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

JWKS_TTL_S = 600.0
REFETCH_MIN_INTERVAL_S = 30.0  # an unknown kid cannot make us hammer the issuer
LEEWAY_S = 60
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class TokenError(Exception):
    pass


@dataclass(frozen=True)
class TokenSettings:
    issuer: str
    audience: str
    jwks_url: str | None = None  # default: the issuer's OpenID configuration says


@dataclass(frozen=True)
class Identity:
    # Who the token is, as SSO sign-in links accounts (api.sso_sign_in): the issuer and
    # its subject. Nothing else in a token (its email included) says which account it is.
    issuer: str
    subject: str | None


def subject_of(claims: dict) -> str | None:
    """A token's subject: Entra ID's object id (oid, the same in every app of a tenant),
    else `sub`."""
    subject = claims.get("oid") or claims.get("sub")
    return None if subject is None else str(subject)


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2 and credential.startswith("eyJ")


class TokenVerifier:
    def __init__(self, settings: TokenSettings, http: httpx.AsyncClient):
        self.settings = settings
        self.http = http
        self._claims = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_S,
            iss={"essential": True, "value": settings.issuer},
            aud={"essential": True, "value": settings.audience},
            exp={"essential": True},
        )
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _jwks_url(self) -> str:
        if self.settings.jwks_url:
            return self.settings.jwks_url
        discovery = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = await self.http.get(discovery, timeout=10)
        response.raise_for_status()
        return response.json()["jwks_uri"]

    async def _key_set(self, *, refresh: bool = False):
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            stale = self._keys is None or age > JWKS_TTL_S
            if stale or (refresh and age > REFETCH_MIN_INTERVAL_S):
                try:
                    response = await self.http.get(await self._jwks_url(), timeout=10)
                    response.raise_for_status()
                    self._keys = KeySet.import_key_set(response.json())
                    self._fetched_at = time.monotonic()
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    if self._keys is None:
                        raise TokenError("the identity provider's keys are unavailable") from exc
            return self._keys

    async def verify(self, token: str) -> Identity:
        decoded = None
        for refresh in (False, True):
            keys = await self._key_set(refresh=refresh)
            try:
                decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
                break
            except InvalidKeyIdError:  # no key with the token's kid: the issuer may have rotated
                continue
            except JoseError as exc:
                raise TokenError(f"invalid token: {exc.error}") from None
        if decoded is None:
            raise TokenError("invalid token: signed with an unknown key")
        try:
            self._claims.validate(decoded.claims)
        except JoseError as exc:
            raise TokenError(f"invalid token: {exc.error}") from None
        return Identity(issuer=decoded.claims["iss"], subject=subject_of(decoded.claims))
