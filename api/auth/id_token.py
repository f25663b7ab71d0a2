"""Checking an OpenID Connect ID token (OIDC Core 3.1.3.7), and what we take from it.

The signature is checked against the issuer's published keys, with an asymmetric
algorithm from an allow-list (never `none`, never HMAC: a public key must not be usable
as a shared secret). The claims: `iss` exactly the issuer, `aud` our client id (and
`azp` too when there are several audiences), `exp`, `iat` recent, and `nonce` this
login's. Entra ID's multi-tenant endpoints publish the issuer as a template,
`https://login.microsoftonline.com/{tenantid}/v2.0`: the token's `iss` must then be the
template filled with its own `tid`, and that tenant must be one we allow.
"""

import hmac
import time
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from api.auth.errors import ApiProblem
from api.gateway.tokens import ALGORITHMS, LEEWAY_S, subject_of

TENANT_PLACEHOLDER = "{tenantid}"
# The token comes straight from the token endpoint: one issued long ago is not this login's.
MAX_AGE_S = 600


class UnknownKey(Exception):
    """The token names a key the key set lacks (the issuer may have rotated its keys)."""


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str  # Entra ID object id (oid), else sub
    email: str | None
    display_name: str | None
    # Whether the email may link an existing account: the provider vouches for it
    # (email_verified, or Entra's domain-verified xms_edov), or the issuer is one
    # organisation's own directory, whose administrators are ours. A multi-tenant
    # issuer's plain `email` can be set to any address by another tenant's admin.
    email_trusted: bool = False


def invalid(reason: str) -> ApiProblem:
    return ApiProblem(
        401, f"The identity provider's ID token was refused: {reason}.", "invalid_id_token"
    )


def decode(id_token: str, keys: KeySet) -> dict:
    """The token's claims once its signature verifies; raises UnknownKey or ApiProblem."""
    if not isinstance(id_token, str) or id_token.count(".") != 2 or len(id_token) > 16384:
        raise invalid("not a signed JWT")
    try:
        return jwt.decode(id_token, keys, algorithms=ALGORITHMS).claims
    except InvalidKeyIdError:
        raise UnknownKey from None
    except (JoseError, ValueError) as exc:  # ValueError: a malformed header or key
        raise invalid(getattr(exc, "error", "malformed")) from None


def check_claims(
    claims: dict,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    allowed_tenants: frozenset[str] = frozenset(),
    now: int | None = None,
) -> Identity:
    """The identity the claims vouch for, or an ApiProblem saying what is wrong."""
    now = int(time.time()) if now is None else now
    expected_issuer = issuer
    if TENANT_PLACEHOLDER in issuer:
        tenant = claims.get("tid")
        if not isinstance(tenant, str) or not tenant:
            raise invalid("no tenant (tid) for a multi-tenant issuer")
        expected_issuer = issuer.replace(TENANT_PLACEHOLDER, tenant)
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=LEEWAY_S,
        iss={"essential": True, "value": expected_issuer},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        nonce={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise invalid("it has expired") from None
    except JoseError as exc:
        raise invalid(exc.description or exc.error) from None
    if claims["iat"] < now - MAX_AGE_S - LEEWAY_S:
        raise invalid("it was issued too long ago")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise invalid("it was issued to another party (azp)")
    if not isinstance(claims["nonce"], str) or not hmac.compare_digest(
        claims["nonce"].encode(), nonce.encode()
    ):
        raise invalid("its nonce is not this login's")
    if TENANT_PLACEHOLDER in issuer and claims["tid"] not in allowed_tenants:
        raise ApiProblem(
            403,
            "Your organisation's directory (tenant) may not sign in here"
            + ("" if allowed_tenants else ": no tenant is allowed (set OIDC_ALLOWED_TENANTS)")
            + ".",
            "tenant_not_allowed",
        )
    return identity(expected_issuer, claims, single_tenant=TENANT_PLACEHOLDER not in issuer)


def identity(issuer: str, claims: dict, *, single_tenant: bool = True) -> Identity:
    subject = subject_of(claims)
    # `email` is optional in Entra ID (then preferred_username or upn, the sign-in name,
    # is the address). An address the provider says it has not verified is not used at
    # all: it could link someone else's existing account.
    email = None
    if claims.get("email_verified") is not False:
        for candidate in (claims.get("email"), claims.get("preferred_username"), claims.get("upn")):
            if isinstance(candidate, str) and "@" in candidate:
                email = candidate
                break
    name = claims.get("name")
    return Identity(
        issuer=issuer,
        subject=subject,
        email=email,
        display_name=name if isinstance(name, str) and name.strip() else None,
        email_trusted=email is not None
        and (
            claims.get("email_verified") is True or claims.get("xms_edov") is True or single_tenant
        ),
    )
