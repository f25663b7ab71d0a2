"""The OpenID provider (Entra ID) as the sign-in routes use it: its OpenID configuration
and keys (fetched once and cached), the authorization URL of a login, and the exchange of
an authorization code for a verified identity. authlib speaks OAuth (PKCE S256, client
authentication); joserfc checks the ID token (see id_token.py).

Every failure is an ApiProblem: 502 when the provider cannot be reached or answers
nonsense, 401 when it refuses the code or its ID token does not hold. Nothing a browser
or the provider sent (codes, tokens, claims) is logged.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from joserfc.jwk import KeySet

from api.auth import id_token
from api.auth.errors import ApiProblem
from api.auth.sso_state import LoginState
from api.gateway.tokens import JWKS_TTL_S, REFETCH_MIN_INTERVAL_S

try:  # authlib's HTTP client is built on httpx2 (older releases: on httpx)
    import httpx2

    TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx2.HTTPError)
except ImportError:  # pragma: no cover
    TRANSPORT_ERRORS = (httpx.HTTPError,)

logger = logging.getLogger(__name__)

TIMEOUT_S = 10.0
CONFIGURATION_TTL_S = 3600.0


@dataclass(frozen=True)
class OidcSettings:
    issuer: str  # e.g. https://login.microsoftonline.com/<tenant>/v2.0
    client_id: str
    client_secret: str | None
    state_secret: bytes = field(repr=False)  # signs the login-state cookie
    redirect_url: str | None = None  # default: /auth/oidc/callback on the request's origin
    default_role: str | None = "developer"  # for new users; None: unknown identities refused
    scopes: str = "openid email profile"
    allowed_tenants: frozenset[str] = frozenset()  # for multi-tenant ({tenantid}) issuers


def unavailable(what: str) -> ApiProblem:
    return ApiProblem(
        502, f"The identity provider failed: {what}. Try again later.", "identity_provider_failed"
    )


class OidcProvider:
    def __init__(self, settings: OidcSettings, http: httpx.AsyncClient):
        self.settings = settings
        self.http = http
        self._configuration: dict | None = None
        self._configuration_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._lock = asyncio.Lock()

    async def _get_json(self, url: str, what: str) -> dict:
        try:
            response = await self.http.get(url, timeout=TIMEOUT_S)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("identity provider: %s unavailable (%s)", what, type(exc).__name__)
            raise unavailable(f"its {what} is unavailable") from None
        if not isinstance(body, dict):
            raise unavailable(f"its {what} is not a JSON object")
        return body

    async def configuration(self) -> dict:
        """The issuer's OpenID configuration (cached for an hour)."""
        async with self._lock:
            age = time.monotonic() - self._configuration_at
            if self._configuration is None or age > CONFIGURATION_TTL_S:
                issuer = self.settings.issuer.rstrip("/")
                found = await self._get_json(
                    issuer + "/.well-known/openid-configuration", "OpenID configuration"
                )
                needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
                if not all(isinstance(found.get(name), str) for name in needed):
                    raise unavailable("its OpenID configuration lacks endpoints")
                # The configuration must be the configured issuer's (Entra ID's multi-tenant
                # endpoints name a template that each token's tenant fills in).
                if found["issuer"] != issuer and id_token.TENANT_PLACEHOLDER not in found["issuer"]:
                    logger.error("identity provider: OIDC_ISSUER is not the issuer it names")
                    raise unavailable("its OpenID configuration names another issuer")
                self._configuration = found
                self._configuration_at = time.monotonic()
            return self._configuration

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        jwks_uri = (await self.configuration())["jwks_uri"]
        async with self._lock:
            age = time.monotonic() - self._keys_at
            if self._keys is None or age > JWKS_TTL_S or (refresh and age > REFETCH_MIN_INTERVAL_S):
                try:
                    published = await self._get_json(jwks_uri, "key set")
                    self._keys = KeySet.import_key_set(published)  # type: ignore[arg-type]
                    self._keys_at = time.monotonic()
                except (ApiProblem, ValueError, KeyError, TypeError):
                    if self._keys is None:  # stale keys beat none while the provider is away
                        raise unavailable("its key set is unavailable") from None
            return self._keys

    def _client(self, configuration: dict) -> AsyncOAuth2Client:
        # A client per login: authlib keeps the last token it fetched on the client.
        supported = configuration.get("token_endpoint_auth_methods_supported") or []
        method = None  # authlib: client_secret_basic with a secret, else none (public)
        if self.settings.client_secret and "client_secret_basic" not in supported:
            method = "client_secret_post" if "client_secret_post" in supported else None
        return AsyncOAuth2Client(
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            token_endpoint_auth_method=method,
            scope=self.settings.scopes,
            code_challenge_method="S256",
            timeout=TIMEOUT_S,
        )

    async def authorization_url(self, login: LoginState, redirect_uri: str) -> str:
        configuration = await self.configuration()
        async with self._client(configuration) as client:
            url, _ = client.create_authorization_url(
                configuration["authorization_endpoint"],
                state=login.state,
                code_verifier=login.verifier,
                nonce=login.nonce,
                redirect_uri=redirect_uri,
            )
        return url

    async def identity(self, code: str, login: LoginState, redirect_uri: str) -> id_token.Identity:
        """Redeem the authorization code (with the login's PKCE verifier) and check the ID
        token it brings against the login's nonce."""
        configuration = await self.configuration()
        try:
            async with self._client(configuration) as client:
                token = await client.fetch_token(
                    configuration["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=login.verifier,
                    redirect_uri=redirect_uri,
                )
        except OAuthError as exc:
            # The provider's own error code only (e.g. invalid_grant): no description,
            # which may echo what was sent.
            logger.info("identity provider refused an authorization code: %s", exc.error)
            raise ApiProblem(
                401,
                "The identity provider refused the sign-in (the code may have expired or "
                "been used already): sign in again.",
                "code_rejected",
            ) from None
        except (*TRANSPORT_ERRORS, ValueError) as exc:
            logger.warning("identity provider: token endpoint failed (%s)", type(exc).__name__)
            raise unavailable("its token endpoint did not answer as expected") from None
        raw = token.get("id_token")
        if not isinstance(raw, str):
            raise unavailable("it sent no ID token (is the openid scope granted?)")
        claims = await self._verified_claims(raw)
        return id_token.check_claims(
            claims,
            issuer=configuration["issuer"],
            client_id=self.settings.client_id,
            nonce=login.nonce,
            allowed_tenants=self.settings.allowed_tenants,
        )

    async def _verified_claims(self, raw: str) -> dict:
        for refresh in (False, True):
            try:
                return id_token.decode(raw, await self._key_set(refresh=refresh))
            except id_token.UnknownKey:  # the issuer may have rotated its keys: fetch again
                continue
        raise id_token.invalid("it is signed with an unknown key")
