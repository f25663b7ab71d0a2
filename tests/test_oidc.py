"""Single sign-on end to end: the app against a real OpenID provider (oidc-provider-mock)
on localhost, the browser played by an httpx client with a cookie jar.

The mock signs whatever claims a user is given into the ID token, after its own: that is
how tokens with another audience, an old expiry or another nonce are made here.
"""

import logging
import time
from contextlib import contextmanager
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from oidc_provider_mock import run_server_in_thread
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.app import create_app
from api.auth import id_token, oidc, sso_state
from api.auth.errors import ApiProblem
from api.auth.oidc_provider import OidcSettings
from api.embedded import free_port
from api.gateway.accounting import MemorySink
from api.gateway.config import load_config
from api.gateway.tokens import TokenSettings
from tests.helpers import STRONG_PASSWORD, create_user, operator_call, serving, sign_in

CLIENT_ID = "aigw-web"
SECRET = b"test secret key"


@pytest.fixture(scope="module")
def idp():
    with run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


@contextmanager
def running(db, redis_url, mock_url, issuer, **overrides):
    settings = OidcSettings(
        issuer=issuer,
        client_id=CLIENT_ID,
        client_secret="s3cret",
        state_secret=SECRET,
        **overrides,
    )
    app = create_app(
        db.app,
        redis_url,
        gateway_config=load_config(env={}, mock_provider_url=mock_url),
        events=MemorySink(),
        # the gateway takes the same provider's tokens, as with OIDC_ISSUER and OIDC_CLIENT_ID
        token_settings=TokenSettings(issuer, CLIENT_ID),
        oidc_settings=settings,
    )
    with serving(app) as url:
        yield url


class Site:
    def __init__(self, url, idp, db):
        self.url, self.idp, self.db = url, idp, db

    def sessions(self) -> int:
        return operator_call(self.db.admin, "select count(*) from iam.sessions")[0][0]

    def users(self) -> int:
        return operator_call(self.db.admin, "select count(*) from iam.users")[0][0]

    def browser(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def start(self, browser: httpx.Client, **params) -> str:
        """GET /auth/oidc/login in this browser; the provider's authorization URL."""
        response = browser.get("/auth/oidc/login", params=params)
        assert response.status_code == 303, response.text
        return response.headers["location"]

    def authorise(self, authorize_url: str, sub: str, claims: dict) -> str:
        """The user signs in at the provider; the callback URL it sends the browser to."""
        assert httpx.put(f"{self.idp}/users/{sub}", json=claims).status_code == 204
        response = httpx.post(authorize_url, data={"sub": sub})
        assert response.status_code == 302, response.text
        return response.headers["location"]

    def sign_in(self, browser: httpx.Client, sub: str, claims: dict, **params) -> httpx.Response:
        callback = self.authorise(self.start(browser, **params), sub, claims)
        return browser.get(callback)


def provider_token(idp: str, sub: str, claims: dict) -> str:
    """An ID token the provider issues the user `sub` signed in at it, as a command-line
    tool gets one: the code flow to a redirect nobody serves, then the token endpoint."""
    assert httpx.put(f"{idp}/users/{sub}", json=claims).status_code == 204
    configuration = httpx.get(f"{idp}/.well-known/openid-configuration").json()
    redirect = "http://127.0.0.1/cli-callback"
    query = {"client_id": CLIENT_ID, "response_type": "code", "scope": "openid email"}
    query |= {"redirect_uri": redirect, "state": "s", "nonce": "n"}
    authorize = f"{configuration['authorization_endpoint']}?{urlencode(query)}"
    answer = httpx.post(authorize, data={"sub": sub})
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    tokens = httpx.post(
        configuration["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
        auth=(CLIENT_ID, "s3cret"),
    )
    assert tokens.status_code == 200, tokens.text
    return tokens.json()["id_token"]


def chat(url: str, credential: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]},
        headers={"Authorization": f"Bearer {credential}"},
        timeout=10,
    )


@pytest.fixture
def site(db, redis_url, mock_upstream, idp):
    with running(db, redis_url, mock_upstream[0], idp) as url:
        yield Site(url, idp, db)


def ana(**extra) -> dict:
    return {
        "oid": "11111111-1111-1111-1111-111111111111",
        "email": "ana@example.com",
        "name": "Ana Lima",
        **extra,
    }


def refused(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    # the login is over: its cookie is cleared
    assert "aigw_oidc=" in response.headers.get("set-cookie", ""), response.headers
    return error


def with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


# -- signing in ---------------------------------------------------------------------------


def test_a_first_sign_in_creates_a_developer_with_a_working_session(site):
    browser = site.browser()
    authorize = site.start(browser, next="/portal/keys?tab=mine")
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["nonce"] and query["state"] and query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{site.url}/auth/oidc/callback"]
    cookie = browser.cookies.jar
    (state_cookie,) = [c for c in cookie if c.name == "aigw_oidc"]
    assert state_cookie.path == "/auth/oidc" and state_cookie.has_nonstandard_attr("HttpOnly")

    done = browser.get(site.authorise(authorize, "ana", ana()))
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/portal/keys?tab=mine"
    assert "aigw_oidc" not in browser.cookies  # single use: cleared
    me = browser.get("/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "ana@example.com"
    assert me.json()["display_name"] == "Ana Lima"
    assert [r["role"] for r in me.json()["roles"]] == ["developer"]
    ((subject, issuer, method),) = operator_call(
        site.db.admin,
        "select u.oidc_subject, u.oidc_issuer, s.method from iam.users u "
        "join iam.sessions s on s.user_id = u.id",
    )
    assert (subject, issuer, method) == (ana()["oid"], site.idp, "sso")


def test_the_subject_is_sub_when_there_is_no_oid(site):
    browser = site.browser()
    done = site.sign_in(browser, "bo-sub", {"email": "bo@example.com"})
    assert done.status_code == 303, done.text
    assert operator_call(
        site.db.admin, "select oidc_subject from iam.users where email = 'bo@example.com'"
    ) == [("bo-sub",)]


def test_a_second_sign_in_of_the_same_subject_is_the_same_user(site):
    first = site.browser()
    assert site.sign_in(first, "ana", ana()).status_code == 303
    user_id = first.get("/auth/me").json()["user_id"]
    users = site.users()
    # the same object id, even under a changed address, is the same person
    second = site.browser()
    done = site.sign_in(second, "ana", ana(email="ana.lima@example.com"))
    assert done.status_code == 303, done.text
    assert second.get("/auth/me").json()["user_id"] == user_id
    assert site.users() == users
    assert site.sessions() == 2


def test_an_existing_account_with_the_same_email_is_linked(site):
    operator_call(site.db.admin, "select api.create_team('t2')")
    lead = create_user(site.db.admin, "lead@example.com", roles=(("team_admin", "t2"),))
    browser = site.browser()
    done = site.sign_in(browser, "lead", {"oid": "lead-oid", "email": "Lead@Example.com"})
    assert done.status_code == 303, done.text
    me = browser.get("/auth/me").json()
    assert me["user_id"] == lead
    assert [(r["role"], r["team"]) for r in me["roles"]] == [("team_admin", "t2")]
    assert operator_call(
        site.db.admin, "select oidc_subject from iam.users where id = %s", (lead,)
    ) == [("lead-oid",)]


def test_linking_takes_the_account_over_from_whoever_set_its_password(site):
    """Registration and invitations prove nobody owns the mailbox: whoever registered
    ana@ first must lose the account when the directory's Ana signs in."""
    squatter = create_user(site.db.admin, "ana@example.com", roles=(("developer", None),))
    operator_call(site.db.admin, "select api.create_team('t2')")
    operator_call(site.db.admin, "select api.add_team_member('t2', %s)", (squatter,))
    key = operator_call(site.db.admin, "select key from api.issue_key('t2', 'mine')")[0][0]
    operator_call(site.db.admin, "update iam.api_keys set owner_user_id = %s", (squatter,))
    password_session = sign_in(site.url, "ana@example.com")
    assert httpx.get(f"{site.url}/auth/me", headers=password_session).status_code == 200

    browser = site.browser()
    assert site.sign_in(browser, "ana", ana()).status_code == 303
    assert browser.get("/auth/me").json()["user_id"] == squatter
    # the password, its sessions and the personal keys made with it are gone
    assert httpx.get(f"{site.url}/auth/me", headers=password_session).status_code == 401
    login = httpx.post(
        f"{site.url}/auth/login", json={"email": "ana@example.com", "password": STRONG_PASSWORD}
    )
    assert login.status_code == 401
    models = httpx.get(f"{site.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert models.status_code == 401
    (detail,) = operator_call(
        site.db.admin, "select detail from audit.events where action = 'auth.sso_linked'"
    )[0]
    assert detail["personal_keys_revoked"] == 1 and detail["sessions_ended"] == 1


def test_the_gateway_serves_a_token_as_the_account_its_sign_in_linked(site):
    """The provider's tokens are served at /v1 as the account the user's single sign-on
    linked to their subject; another subject with that account's email is someone else."""
    operator_call(site.db.admin, "select api.create_team('t1')")
    create_user(site.db.admin, "ana@example.com", roles=(("developer", None),), teams=("t1",))
    ana_token = provider_token(site.idp, "ana", ana())
    # not linked yet: a model call does not take the account over, the sign-in does
    unlinked = chat(site.url, ana_token)
    assert unlinked.status_code == 401, unlinked.text
    assert "/auth/oidc/login" in unlinked.json()["error"]["message"]
    assert site.sign_in(site.browser(), "ana", ana()).status_code == 303
    assert chat(site.url, ana_token).status_code == 200
    # Eve's directory account claims Ana's address, verified even: not Ana
    eve = provider_token(site.idp, "eve", {"email": "ana@example.com", "email_verified": True})
    impostor = chat(site.url, eve)
    assert impostor.status_code == 401, impostor.text
    assert "no account is linked to this identity" in impostor.json()["error"]["message"]
    assert chat(site.url, provider_token(site.idp, "ana", ana())).status_code == 200


def test_an_address_the_provider_does_not_vouch_for_links_nothing():
    claims = entra_claims(email="admin@example.com")
    assert check(claims).email_trusted is False  # multi-tenant, no xms_edov
    assert check({**claims, "xms_edov": True}).email_trusted is True
    assert check({**claims, "email_verified": True}).email_trusted is True
    single = id_token.identity(
        "https://login.example/t/v2.0", {"oid": "o", "email": "a@example.com"}, single_tenant=True
    )
    assert single.email_trusted is True


def test_a_suspended_user_is_refused(site):
    user = create_user(site.db.admin, "sam@example.com", roles=(("developer", None),))
    operator_call(site.db.admin, "update iam.users set status = 'suspended' where id = %s", (user,))
    done = site.sign_in(site.browser(), "sam", {"oid": "sam-oid", "email": "sam@example.com"})
    refused(done, 403, "account_suspended")
    assert site.sessions() == 0


def test_an_email_linked_to_another_identity_is_refused(site):
    assert site.sign_in(site.browser(), "ana", ana()).status_code == 303
    done = site.sign_in(site.browser(), "eve", {"oid": "eve-oid", "email": "ana@example.com"})
    refused(done, 403, "sso_identity_refused")
    assert site.sessions() == 1


def test_without_a_default_role_only_known_accounts_may_sign_in(db, redis_url, mock_upstream, idp):
    with running(db, redis_url, mock_upstream[0], idp, default_role=None) as url:
        site = Site(url, idp, db)
        done = site.sign_in(site.browser(), "nobody", {"oid": "x", "email": "x@example.com"})
        assert "invitation" in refused(done, 403, "sso_identity_refused")["message"]
        assert site.users() == 0


# -- where to go afterwards ---------------------------------------------------------------


@pytest.mark.parametrize(
    "unsafe",
    [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "evil",
        "/\t/x",
        "/" + "a" * 3000,
    ],
)
def test_an_unsafe_next_falls_back_to_the_home_page(site, unsafe):
    done = site.sign_in(site.browser(), "ana", ana(), next=unsafe)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/"


def test_stay_signed_in_gives_a_lasting_session_cookie(site):
    done = site.sign_in(site.browser(), "ana", ana(), stay_signed_in="true")
    assert done.status_code == 303, done.text
    session_cookie = [c for c in done.headers.get_list("set-cookie") if "aigw_session=" in c]
    assert "Max-Age" in session_cookie[0]


# -- refusals -------------------------------------------------------------------------------


def test_a_wrong_or_missing_state_is_refused(site):
    browser = site.browser()
    callback = site.authorise(site.start(browser), "ana", ana())
    refused(browser.get(with_query(callback, state="forged")), 400, "sso_state_mismatch")
    # the state cookie is gone now, so even the right state cannot be used
    refused(browser.get(callback), 400, "sso_state_missing")

    browser = site.browser()
    callback = site.authorise(site.start(browser), "ana", ana())
    code = parse_qs(urlsplit(callback).query)["code"][0]
    refused(browser.get("/auth/oidc/callback", params={"code": code}), 400, "sso_state_mismatch")
    # another browser (an attacker's link): no cookie of this login
    refused(site.browser().get(callback), 400, "sso_state_missing")
    assert site.sessions() == 0


def test_a_tampered_state_cookie_is_refused(site):
    browser = site.browser()
    callback = site.authorise(site.start(browser), "ana", ana())
    value = browser.cookies["aigw_oidc"]
    header, payload, signature = value.split(".")
    forged = ".".join(
        (header, payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB"), signature)
    )
    browser.cookies.set("aigw_oidc", forged, path="/auth/oidc")
    refused(browser.get(callback), 400, "sso_state_missing")
    assert site.sessions() == 0


def test_a_token_with_another_logins_nonce_is_refused(site):
    """Two logins crossed: the code was obtained with login B's nonce, but comes back with
    login A's state (an injected authorization response)."""
    a, b = site.browser(), site.browser()
    authorize_a, authorize_b = site.start(a), site.start(b)
    nonce_b = parse_qs(urlsplit(authorize_b).query)["nonce"][0]
    callback = site.authorise(with_query(authorize_a, nonce=nonce_b), "ana", ana())
    error = refused(a.get(callback), 401, "invalid_id_token")
    assert "nonce" in error["message"]
    assert site.sessions() == 0


def test_a_token_whose_nonce_was_changed_by_the_provider_is_refused(site):
    done = site.sign_in(site.browser(), "ana", ana(nonce="not-this-one"))
    assert "nonce" in refused(done, 401, "invalid_id_token")["message"]
    assert site.sessions() == 0


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "another-app"},
        {"aud": [CLIENT_ID, "another-app"], "azp": "another-app"},
        {"iss": "https://evil.example"},
    ],
    ids=["audience", "authorized-party", "issuer"],
)
def test_a_token_for_another_audience_or_issuer_is_refused(site, claims):
    done = site.sign_in(site.browser(), "ana", ana(**claims))
    refused(done, 401, "invalid_id_token")
    assert site.sessions() == 0


def test_a_token_of_another_client_id_is_refused(db, redis_url, mock_upstream, idp):
    """The app is registered as another client than the one the provider issued for: the
    provider refuses to redeem the code for it."""
    with running(db, redis_url, mock_upstream[0], idp) as url:
        site = Site(url, idp, db)
        browser = site.browser()
        authorize = with_query(site.start(browser), client_id="someone-elses-app")
        refused(browser.get(site.authorise(authorize, "ana", ana())), 401, "code_rejected")
        assert site.sessions() == 0


def test_an_expired_token_is_refused(site):
    now = int(time.time())
    done = site.sign_in(site.browser(), "ana", ana(exp=now - 600, iat=now - 4200))
    assert "expired" in refused(done, 401, "invalid_id_token")["message"]
    old = site.sign_in(site.browser(), "ana", ana(iat=now - 7200))
    assert "too long ago" in refused(old, 401, "invalid_id_token")["message"]
    assert site.sessions() == 0


def test_a_replayed_callback_is_refused(site, caplog):
    browser = site.browser()
    callback = site.authorise(site.start(browser), "ana", ana())
    cookie = browser.cookies["aigw_oidc"]
    assert browser.get(callback).status_code == 303
    # the same code and state, with the state cookie sent again
    replay = site.browser()
    replay.cookies.set("aigw_oidc", cookie, path="/auth/oidc")
    refused(replay.get(callback), 400, "sso_state_used")
    # the same code under a fresh login's state: the provider refuses to redeem it twice
    code = parse_qs(urlsplit(callback).query)["code"][0]
    fresh = parse_qs(urlsplit(site.start(browser)).query)["state"][0]
    refused(browser.get(with_query(callback, state=fresh)), 401, "code_rejected")
    assert site.sessions() == 1
    assert code not in caplog.text and cookie not in caplog.text


def test_a_denied_sign_in_is_refused(site):
    browser = site.browser()
    authorize = site.start(browser)
    response = httpx.post(authorize, data={"action": "deny"})
    assert response.status_code == 302
    error = refused(browser.get(response.headers["location"]), 401, "sso_denied")
    assert "access_denied" in error["message"]


def test_refusals_of_logins_we_started_are_audited_anonymous_noise_is_not(site):
    def refusals():
        return operator_call(
            site.db.admin,
            "select detail->>'reason' from audit.events where action = 'auth.sso_refused'",
        )

    for _ in range(5):  # anyone can send these: no state cookie, nothing kept
        assert httpx.get(f"{site.url}/auth/oidc/callback?error=x").status_code == 401
    assert refusals() == []
    browser = site.browser()
    authorize = site.start(browser)
    response = httpx.post(authorize, data={"action": "deny"})
    refused(browser.get(response.headers["location"]), 401, "sso_denied")
    assert refusals() == [("sso_denied",)]


# -- configuration ------------------------------------------------------------------------


def test_without_single_sign_on_the_routes_say_what_to_set(gateway):
    response = httpx.get(f"{gateway.url}/auth/oidc/login")
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert "OIDC_ISSUER" in message and "OIDC_CLIENT_ID" in message
    assert httpx.get(f"{gateway.url}/auth/oidc/callback").status_code == 404


def test_an_unreachable_provider_is_a_502(db, redis_url, mock_upstream):
    nowhere = f"http://127.0.0.1:{free_port()}"
    with running(db, redis_url, mock_upstream[0], nowhere) as url:
        response = httpx.get(f"{url}/auth/oidc/login")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "identity_provider_failed"


def test_a_configured_issuer_must_be_the_one_the_provider_names(db, redis_url, mock_upstream):
    async def configuration(request):
        return JSONResponse(
            {
                "issuer": "https://elsewhere.example",
                "authorization_endpoint": "https://elsewhere.example/authorize",
                "token_endpoint": "https://elsewhere.example/token",
                "jwks_uri": "https://elsewhere.example/keys",
            }
        )

    impostor = Starlette(routes=[Route("/.well-known/openid-configuration", configuration)])
    with (
        serving(impostor) as issuer,
        running(db, redis_url, mock_upstream[0], issuer) as url,
    ):
        response = httpx.get(f"{url}/auth/oidc/login")
    assert response.status_code == 502
    assert "another issuer" in response.json()["error"]["message"]


def test_openapi_documents_both_routes(site):
    paths = httpx.get(f"{site.url}/openapi.json").json()["paths"]
    for path in ("/auth/oidc/login", "/auth/oidc/callback"):
        operation = paths[path]["get"]
        assert operation["summary"] and operation["tags"] == ["auth"]
        assert {"303", "404", "502"} <= set(operation["responses"])
    assert {"400", "401", "403"} <= set(paths["/auth/oidc/callback"]["get"]["responses"])


# -- the parts on their own ------------------------------------------------------------------

ENTRA = "https://login.microsoftonline.com/{tenantid}/v2.0"
TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


def entra_claims(**extra) -> dict:
    now = int(time.time())
    return {
        "iss": ENTRA.replace("{tenantid}", TENANT),
        "aud": CLIENT_ID,
        "tid": TENANT,
        "sub": "pairwise-sub",
        "oid": "object-id",
        "preferred_username": "ana@contoso.example",
        "nonce": "n",
        "iat": now,
        "exp": now + 3600,
        **extra,
    }


def check(claims, tenants=frozenset({TENANT})):
    return id_token.check_claims(
        claims, issuer=ENTRA, client_id=CLIENT_ID, nonce="n", allowed_tenants=tenants
    )


def test_a_multi_tenant_issuer_is_filled_with_the_tokens_tenant():
    identity = check(entra_claims())
    assert identity.issuer == f"https://login.microsoftonline.com/{TENANT}/v2.0"
    assert identity.subject == "object-id"  # oid, not the pairwise sub
    assert identity.email == "ana@contoso.example"


@pytest.mark.parametrize(
    ("claims", "tenants", "status"),
    [
        ({"tid": "00000000-0000-0000-0000-000000000000"}, {TENANT}, 401),  # iss of another
        (
            {"tid": "other", "iss": "https://login.microsoftonline.com/other/v2.0"},
            {TENANT},
            403,
        ),
        ({}, set(), 403),  # no tenant allowed at all
        ({"tid": None}, {TENANT}, 401),
    ],
)
def test_a_multi_tenant_token_must_name_an_allowed_tenant_consistently(claims, tenants, status):
    with pytest.raises(ApiProblem) as problem:
        check(entra_claims(**claims), frozenset(tenants))
    assert problem.value.status == status


def test_an_unverified_email_is_not_used():
    identity = check(entra_claims(email="boss@contoso.example", email_verified=False))
    assert identity.email is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/portal", "/portal"),
        ("/a?b=c#d", "/a?b=c#d"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/x\r\nSet-Cookie: a=b", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_safe_next(value, expected):
    assert sso_state.safe_next(value) == expected


def test_the_access_log_never_shows_the_callbacks_code():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/auth/oidc/callback?code=SECRET&state=S", "1.1", 303),
        None,
    )
    oidc.RedactCallbackQuery().filter(record)
    assert "SECRET" not in record.getMessage() and "/auth/oidc/callback" in record.getMessage()


def test_an_untrusted_email_does_not_link_an_existing_account(db):
    import psycopg
    import pytest as _pytest

    create_user(db.admin, "boss@example.com", roles=(("platform_admin", None),))
    with _pytest.raises(psycopg.Error) as refused_link:
        operator_call(
            db.admin,
            "select api.sso_sign_in('https://idp.example', 'partner-oid', 'boss@example.com', "
            "'Not Boss', 'developer', false)",
        )
    assert refused_link.value.sqlstate == "AIG03"
    assert operator_call(
        db.admin, "select oidc_subject from iam.users where email = 'boss@example.com'"
    ) == [(None,)]
