"""Entra ID-style identity tokens at the gateway, verified against a real JWKS endpoint."""

import time

import httpx
import openai
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.app import create_app
from api.gateway import tokens
from api.gateway.accounting import MemorySink
from api.gateway.config import load_config
from api.gateway.tokens import TokenSettings, TokenVerifier
from tests.helpers import budgets_settled, create_user, operator_call, serving

AUDIENCE = "api://aigw"
HELLO = [{"role": "user", "content": "Hello"}]
ANA_OID = "00000000-0000-0000-0000-0000000000aa"


@pytest.fixture
def issuer():
    """An OpenID issuer: discovery document and JWKS over HTTP, and a signing key."""
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    published = {"keys": [key.as_dict(private=False)]}
    state = {}

    async def discovery(request):
        return JSONResponse({"issuer": state["url"], "jwks_uri": state["url"] + "/keys"})

    async def keys(request):
        return JSONResponse(published)

    app = Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/keys", keys),
        ]
    )
    with serving(app) as url:
        state["url"] = url
        yield url, key


def token(issuer_url: str, key, **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer_url,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 3600,
        "oid": ANA_OID,
        "preferred_username": "ana@example.com",
        **overrides,
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def link(db, issuer_url: str, subject: str, email: str) -> None:
    """What the user's first single sign-on does: link their account to the identity."""
    operator_call(
        db.admin,
        "select api.sso_sign_in(%s, %s, %s, null, null, true)",
        (issuer_url, subject, email),
    )


@pytest.fixture
def token_gateway(db, redis_url, mock_upstream, issuer):
    issuer_url, key = issuer
    mock_url, _ = mock_upstream
    for team in ("t1", "t2"):
        operator_call(db.admin, "select api.create_team(%s)", (team,))
    (user_id,) = operator_call(db.admin, "select api.create_user('ana@example.com')")[0]
    operator_call(db.admin, "select api.grant_role(%s, 'developer')", (user_id,))
    operator_call(db.admin, "select api.add_team_member('t1', %s)", (user_id,))
    link(db, issuer_url, ANA_OID, "ana@example.com")
    app = create_app(
        db.app,
        redis_url,
        gateway_config=load_config(env={}, mock_provider_url=mock_url),
        events=MemorySink(),
        token_settings=TokenSettings(issuer_url, AUDIENCE),
    )
    with serving(app) as url:
        yield url, issuer_url, key, db, user_id


def client(url: str, credential: str, team: str | None = None) -> openai.OpenAI:
    headers = {"x-aigw-team": team} if team else None
    return openai.OpenAI(
        base_url=f"{url}/v1", api_key=credential, max_retries=0, default_headers=headers
    )


def test_a_valid_token_is_served_as_its_user_in_their_team(token_gateway):
    url, issuer_url, key, db, user_id = token_gateway
    response = client(url, token(issuer_url, key)).chat.completions.create(
        model="gpt-4o", messages=HELLO
    )
    assert response.choices[0].message.content.startswith("[mock gpt-4o]")
    # a signed-in user holds every scope a key may have
    assert (
        client(url, token(issuer_url, key))
        .embeddings.create(model="text-embedding-3-small", input="a")
        .data
    )
    # The user's own budget in the team is reserved and settled like a key's.
    operator_call(db.admin, "select api.set_budget('t1', 'month', 1, null, %s)", (user_id,))
    time.sleep(0.2)
    client(url, token(issuer_url, key)).chat.completions.create(model="gpt-4o", messages=HELLO)
    # The gateway leases a slice of it, settles what was spent and returns the rest.
    ((_, _, spent, reserved),) = budgets_settled(db.admin)
    assert spent > 0 and reserved == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"aud": "api://someone-else"}, "invalid_claim"),
        ({"iss": "https://evil.example"}, "invalid_claim"),
        ({"exp": int(time.time()) - 3600}, "expired_token"),
    ],
)
def test_tokens_with_wrong_claims_are_refused(token_gateway, overrides, message):
    url, issuer_url, key, *_ = token_gateway
    with pytest.raises(openai.AuthenticationError) as refused:
        client(url, token(issuer_url, key, **overrides)).chat.completions.create(
            model="gpt-4o", messages=HELLO
        )
    assert message in refused.value.message


def test_a_token_signed_by_another_key_is_refused(token_gateway):
    url, issuer_url, _, *_ = token_gateway
    forger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    with pytest.raises(openai.AuthenticationError) as refused:
        client(url, token(issuer_url, forger)).chat.completions.create(
            model="gpt-4o", messages=HELLO
        )
    assert "bad_signature" in refused.value.message


def test_unknown_users_viewers_and_strangers_to_a_team_are_refused(token_gateway):
    url, issuer_url, key, db, user_id = token_gateway
    stranger = token(issuer_url, key, oid="someone-else", preferred_username="x@example.com")
    with pytest.raises(openai.AuthenticationError):
        client(url, stranger).chat.completions.create(model="gpt-4o", messages=HELLO)
    with pytest.raises(openai.PermissionDeniedError):
        client(url, token(issuer_url, key), team="t2").chat.completions.create(
            model="gpt-4o", messages=HELLO
        )
    (viewer,) = operator_call(db.admin, "select api.create_user('vic@example.com')")[0]
    operator_call(db.admin, "select api.grant_role(%s, 'viewer')", (viewer,))
    operator_call(db.admin, "select api.add_team_member('t1', %s)", (viewer,))
    link(db, issuer_url, "vic", "vic@example.com")
    viewer_token = token(issuer_url, key, oid="vic", preferred_username="vic@example.com")
    with pytest.raises(openai.PermissionDeniedError):
        client(url, viewer_token).chat.completions.create(model="gpt-4o", messages=HELLO)


def test_a_token_is_its_linked_subject_never_an_email(token_gateway):
    """Another subject of the same issuer, with the linked account's email: someone else
    (a second directory account, a renamed mailbox), refused and nothing is linked."""
    url, issuer_url, key, db, user_id = token_gateway
    impostor = token(issuer_url, key, oid="someone-else", preferred_username="ana@example.com")
    with pytest.raises(openai.AuthenticationError) as refused:
        client(url, impostor).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert "no account is linked to this identity" in refused.value.message
    # `sub` alone (no oid) is a subject too, and an email claim changes nothing
    by_sub = token(issuer_url, key, oid=None, sub="someone-else", email="ana@example.com")
    with pytest.raises(openai.AuthenticationError):
        client(url, by_sub).chat.completions.create(model="gpt-4o", messages=HELLO)
    # the linked subject is served, whatever address the token names now
    renamed = token(issuer_url, key, preferred_username="ana.lima@example.com")
    ok = client(url, renamed).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert ok.choices
    assert operator_call(
        db.admin, "select oidc_issuer, oidc_subject from iam.users where id = %s", (user_id,)
    ) == [(issuer_url, ANA_OID)]


def test_an_account_not_linked_yet_is_told_to_sign_in_once(token_gateway):
    """A token never links an account by itself: that takes the account over (its
    password, sessions and keys end), which the interactive sign-in does."""
    url, issuer_url, key, db, _ = token_gateway
    bo = create_user(db.admin, "bo@example.com", roles=(("developer", None),), teams=("t1",))
    (bo_key,) = operator_call(db.admin, "select key from api.issue_key('t1', 'bo')")[0]
    operator_call(db.admin, "update iam.api_keys set owner_user_id = %s", (bo,))
    bo_token = token(issuer_url, key, oid="bo-oid", preferred_username="bo@example.com")
    with pytest.raises(openai.AuthenticationError) as refused:
        client(url, bo_token).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert "/auth/oidc/login" in refused.value.message
    # nothing was taken over: bo's key, password and account are as they were
    assert client(url, bo_key).models.list().data
    assert operator_call(
        db.admin,
        "select u.oidc_subject, c.user_id is not null from iam.users u "
        "left join iam.user_credentials c on c.user_id = u.id where u.id = %s",
        (bo,),
    ) == [(None, True)]
    # once linked (their first single sign-on), the same token is served as bo
    link(db, issuer_url, "bo-oid", "bo@example.com")
    assert client(url, bo_token).chat.completions.create(model="gpt-4o", messages=HELLO).choices


def test_the_same_subject_from_another_issuer_is_refused(token_gateway):
    """Ana's account is linked to the subject at the issuer she signed in with; the
    gateway's issuer naming the same subject is another identity."""
    url, issuer_url, key, db, user_id = token_gateway
    operator_call(
        db.admin,
        "update iam.users set oidc_issuer = 'https://previous-idp.example' where id = %s",
        (user_id,),
    )
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client(url, token(issuer_url, key)).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert "another identity provider" in refused.value.message


def test_a_member_of_several_teams_names_one(token_gateway):
    url, issuer_url, key, db, user_id = token_gateway
    operator_call(db.admin, "select api.add_team_member('t2', %s)", (user_id,))
    with pytest.raises(openai.BadRequestError) as ambiguous:
        client(url, token(issuer_url, key)).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert "x-aigw-team" in ambiguous.value.message
    ok = client(url, token(issuer_url, key), team="t2").chat.completions.create(
        model="gpt-4o", messages=HELLO
    )
    assert ok.choices


def test_keys_still_work_beside_tokens(token_gateway):
    url, _, _, db, _ = token_gateway
    (key,) = operator_call(db.admin, "select key from api.issue_key('t1', 'k')")[0]
    response = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": HELLO},
        headers={"authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200


async def test_a_key_the_issuer_rotated_in_is_fetched(monkeypatch):
    """A token naming a key id we have not seen makes the verifier fetch the keys again."""
    old, new = (RSAKey.generate_key(2048, parameters={"kid": kid}) for kid in ("k1", "k2"))
    published = {"keys": [old.as_dict(private=False)]}

    async def keys(request):
        return JSONResponse(published)

    monkeypatch.setattr(tokens, "REFETCH_MIN_INTERVAL_S", 0.0)
    with serving(Starlette(routes=[Route("/keys", keys)])) as url:
        async with httpx.AsyncClient() as http:
            verifier = TokenVerifier(TokenSettings(url, AUDIENCE, f"{url}/keys"), http)
            assert (await verifier.verify(token(url, old))).subject == ANA_OID
            published["keys"].append(new.as_dict(private=False))
            assert (await verifier.verify(token(url, new))).subject == ANA_OID
