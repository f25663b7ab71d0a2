"""The /auth surface over real HTTP: passwords, sessions, throttling, registration,
invitations, service accounts and user administration."""

import httpx
import pytest

from api.auth import password_policy
from tests.helpers import STRONG_PASSWORD, aigw, create_user, operator_call, sign_in

NEW_PASSWORD = "Lantern-Orchid-Basalt-47"


@pytest.fixture
def site(gateway):
    """The running app (team t1) with a platform admin, a team admin of t1, a developer in
    t1 and a viewer."""
    admin = gateway.db.admin
    operator_call(admin, "select api.create_team('t2')")
    gateway.users = {
        "admin": create_user(admin, "root@example.com", roles=(("platform_admin", None),)),
        "lead": create_user(admin, "lead@example.com", roles=(("team_admin", "t1"),)),
        "dev": create_user(admin, "dev@example.com", roles=(("developer", None),), teams=("t1",)),
        "viewer": create_user(admin, "viewer@example.com", roles=(("viewer", None),)),
    }
    return gateway


def login(site, email, password=STRONG_PASSWORD, **extra):
    return httpx.post(
        f"{site.url}/auth/login", json={"email": email, "password": password, **extra}
    )


def test_login_issues_a_fresh_hashed_session_in_a_safe_cookie(site):
    first = login(site, "dev@example.com")
    second = login(site, "dev@example.com")
    assert first.status_code == second.status_code == 200, first.text
    token = first.json()["token"]
    assert token.startswith("aigw_s_") and token != second.json()["token"]
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "max-age" not in cookie  # a browser-session cookie without "stay signed in"
    assert "secure" not in cookie  # plain http on localhost; Secure everywhere else
    me = httpx.get(f"{site.url}/auth/me", cookies={"aigw_session": token})
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "dev@example.com"
    assert me.json()["teams"] == ["t1"]
    assert [r["role"] for r in me.json()["roles"]] == ["developer"]
    # only the digest is stored
    stored = operator_call(
        site.db.admin,
        "select count(*) from iam.sessions where token_digest = sha256(%s::bytea)",
        (token.encode(),),
    )
    assert stored == [(1,)]
    assert operator_call(
        site.db.admin,
        "select count(*) from iam.sessions s where position(%s::bytea in s.token_digest) > 0",
        (token.encode(),),
    ) == [(0,)]


def test_stay_signed_in_lasts_thirty_days(site):
    response = login(site, "dev@example.com", stay_signed_in=True)
    assert "max-age=2592000" in response.headers["set-cookie"].lower()
    days = operator_call(
        site.db.admin,
        "select extract(day from expires_at - created_at) from iam.sessions where stay_signed_in",
    )
    assert days == [(30,)]


def test_wrong_password_and_unknown_email_look_the_same(site):
    wrong = login(site, "dev@example.com", "Not-The-Password-99")
    unknown = login(site, "nobody@example.com", "Not-The-Password-99")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "nobody" not in unknown.text


def test_failed_logins_are_throttled_per_account_without_revealing_it(site):
    for email in ("dev@example.com", "ghost@example.com"):
        for _ in range(5):
            assert login(site, email, "Not-The-Password-99").status_code == 401
        throttled = login(site, email, STRONG_PASSWORD)  # even the right password waits
        assert throttled.status_code == 429, throttled.text
        assert 0 < int(throttled.headers["retry-after"]) <= 900
        assert throttled.json()["error"]["type"] == "rate_limit_error"
    # another account from the same address is not locked out by these ten failures
    assert login(site, "lead@example.com").status_code == 200


def test_a_successful_login_forgives_earlier_failures(site):
    for _ in range(4):
        login(site, "dev@example.com", "Not-The-Password-99")
    assert login(site, "dev@example.com").status_code == 200
    for _ in range(4):
        assert login(site, "dev@example.com", "Not-The-Password-99").status_code == 401
    assert login(site, "dev@example.com").status_code == 200


def test_logout_revokes_the_session_server_side(site):
    headers = sign_in(site.url, "dev@example.com")
    response = httpx.post(f"{site.url}/auth/logout", headers=headers)
    assert response.status_code == 204
    assert 'aigw_session=""' in response.headers["set-cookie"]
    again = httpx.get(f"{site.url}/auth/me", headers=headers)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "session_ended"


def test_idle_and_absolute_timeouts_end_a_session(site):
    idle = sign_in(site.url, "dev@example.com")
    expired = sign_in(site.url, "lead@example.com")
    operator_call(
        site.db.admin,
        "update iam.sessions set last_seen_at = now() - interval '9 hours' where user_id = %s",
        (site.users["dev"],),
    )
    operator_call(
        site.db.admin,
        "update iam.sessions set expires_at = now() - interval '1 second' where user_id = %s",
        (site.users["lead"],),
    )
    assert httpx.get(f"{site.url}/auth/me", headers=idle).status_code == 401
    assert httpx.get(f"{site.url}/auth/me", headers=expired).status_code == 401


def test_suspension_ends_sessions_and_keys_at_once(site):
    headers = sign_in(site.url, "dev@example.com")
    key = operator_call(
        site.db.admin,
        "select key from api.issue_key('t1', 'devkey') k",
    )[0][0]
    operator_call(
        site.db.admin,
        "update iam.api_keys set owner_user_id = %s where name = 'devkey'",
        (site.users["dev"],),
    )
    models = httpx.get(f"{site.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert models.status_code == 200
    admin = sign_in(site.url, "root@example.com")
    response = httpx.patch(
        f"{site.url}/auth/users/{site.users['dev']}/status",
        json={"status": "suspended"},
        headers=admin,
    )
    assert response.status_code == 204, response.text
    assert httpx.get(f"{site.url}/auth/me", headers=headers).status_code == 401
    models = httpx.get(f"{site.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert models.status_code == 401
    assert login(site, "dev@example.com").status_code == 401


def test_reactivating_a_user_brings_back_none_of_their_personal_keys(site):
    """Suspension revokes the user's own keys (team keys stay): a key copied while the
    account was in use does not come back with it."""

    def chat(key: str) -> httpx.Response:
        return httpx.post(
            f"{site.url}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
            headers={"Authorization": f"Bearer {key}"},
        )

    def personal_key(name: str) -> str:
        dev = sign_in(site.url, "dev@example.com")
        issued = httpx.post(
            f"{site.url}/admin/api-keys", json={"team": "t1", "name": name}, headers=dev
        )
        assert issued.status_code == 201, issued.text
        return issued.json()["key"]

    old_key = personal_key("mine")
    assert chat(old_key).status_code == 200
    admin = sign_in(site.url, "root@example.com")
    for status in ("suspended", "active"):
        changed = httpx.patch(
            f"{site.url}/auth/users/{site.users['dev']}/status",
            json={"status": status},
            headers=admin,
        )
        assert changed.status_code == 204, changed.text
    refused = chat(old_key)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["message"] == "API key revoked."
    assert chat(site.key).status_code == 200  # the team's key was never the user's
    assert chat(personal_key("new")).status_code == 200
    assert operator_call(
        site.db.admin, "select name, status from api.list_keys() order by created_at"
    ) == [("k", "active"), ("mine", "revoked"), ("new", "active")]


def test_must_change_password_blocks_everything_else_until_changed(site):
    create_user(
        site.db.admin,
        "new@example.com",
        roles=(("team_admin", "t1"),),
        must_change=True,
    )
    session = login(site, "new@example.com")
    assert session.json()["must_change_password"] is True
    headers = {"Authorization": f"Bearer {session.json()['token']}"}
    blocked = httpx.get(f"{site.url}/auth/invitations", headers=headers)
    assert blocked.status_code == 403
    assert blocked.json()["error"]["code"] == "password_change_required"
    assert httpx.get(f"{site.url}/auth/me", headers=headers).json()["must_change_password"]

    def change(current, new):
        return httpx.post(
            f"{site.url}/auth/change-password",
            json={"current_password": current, "new_password": new},
            headers=headers,
        )

    assert change("Wrong-Current-Pass-1", NEW_PASSWORD).status_code == 403
    weak = change(STRONG_PASSWORD, "Password123!")
    assert weak.status_code == 422 and "common" in weak.json()["error"]["message"]
    assert change(STRONG_PASSWORD, NEW_PASSWORD).status_code == 204
    # every session ended, this one too; the new password works and the flag is gone
    assert httpx.get(f"{site.url}/auth/me", headers=headers).status_code == 401
    assert login(site, "new@example.com").status_code == 401
    fresh = login(site, "new@example.com", NEW_PASSWORD)
    assert fresh.status_code == 200 and fresh.json()["must_change_password"] is False


def test_long_passphrases_are_kept_whole(site):
    phrase = "Quiet rivers carry 7 lanterns past the sleeping mill! " * 3  # 162 chars
    assert password_policy.problems(phrase) == []
    headers = sign_in(site.url, "dev@example.com")
    response = httpx.post(
        f"{site.url}/auth/change-password",
        json={"current_password": STRONG_PASSWORD, "new_password": phrase},
        headers=headers,
    )
    assert response.status_code == 204, response.text
    assert login(site, "dev@example.com", phrase[:72]).status_code == 401  # no truncation
    assert login(site, "dev@example.com", phrase).status_code == 200


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Short1!a", "at least 12"),
        ("alllowercase12!", "upper-case"),
        ("ALLUPPERCASE12!", "lower-case"),
        ("NoDigitsHere!!x", "digit"),
        ("NoSpecials12345x", "special"),
        ("Password123!", "common"),
        ("Summer2026!!", "guess"),
        ("Qwertyuiop123!", "guess"),
        ("Jane.Doe.Rocks.9!", "own name"),
    ],
)
def test_password_policy_names_what_is_wrong(password, problem):
    found = password_policy.problems(password, user_inputs=("jane.doe@example.com",))
    assert found and problem in " ".join(found), found


def test_registration_is_limited_to_allowed_domains(site, monkeypatch):
    body = {"email": "sam@example.com", "password": NEW_PASSWORD, "display_name": "Sam"}
    monkeypatch.delenv("ALLOWED_EMAIL_DOMAINS", raising=False)
    off = httpx.post(f"{site.url}/auth/register", json=body)
    assert off.status_code == 403 and off.json()["error"]["code"] == "registration_disabled"
    monkeypatch.setenv("ALLOWED_EMAIL_DOMAINS", "example.com, corp.example")
    other = httpx.post(f"{site.url}/auth/register", json={**body, "email": "sam@evil.test"})
    assert other.status_code == 403
    weak = httpx.post(f"{site.url}/auth/register", json={**body, "password": "Password123!"})
    assert weak.status_code == 422
    assert operator_call(
        site.db.admin, "select count(*) from iam.users where email like 'sam@%%'"
    ) == [(0,)]
    created = httpx.post(f"{site.url}/auth/register", json=body)
    assert created.status_code == 201, created.text
    me = httpx.get(
        f"{site.url}/auth/me", headers={"Authorization": f"Bearer {created.json()['token']}"}
    )
    assert [r["role"] for r in me.json()["roles"]] == ["developer"]
    again = httpx.post(f"{site.url}/auth/register", json=body)
    assert again.status_code == 409


def test_invitation_round_trip_is_single_use(site):
    lead = sign_in(site.url, "lead@example.com")
    created = httpx.post(
        f"{site.url}/auth/invitations",
        json={"email": "Newbie@Example.com", "role": "developer", "scope": "t1"},
        headers=lead,
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token in created.json()["accept_url"]
    listed = httpx.get(f"{site.url}/auth/invitations", headers=lead).json()
    assert [(i["email"], i["status"], i["team"]) for i in listed] == [
        ("newbie@example.com", "pending", "t1")
    ]
    assert token not in str(operator_call(site.db.admin, "select * from iam.invitations"))

    weak = httpx.post(
        f"{site.url}/auth/invitations/accept", json={"token": token, "password": "Password123!"}
    )
    assert weak.status_code == 422
    accept = httpx.post(
        f"{site.url}/auth/invitations/accept",
        json={"token": token, "password": NEW_PASSWORD, "display_name": "New Bie"},
    )
    assert accept.status_code == 201, accept.text
    me = httpx.get(
        f"{site.url}/auth/me", headers={"Authorization": f"Bearer {accept.json()['token']}"}
    ).json()
    assert me["email"] == "newbie@example.com" and me["teams"] == ["t1"]
    assert [r["role"] for r in me["roles"]] == ["developer"]
    replay = httpx.post(
        f"{site.url}/auth/invitations/accept", json={"token": token, "password": NEW_PASSWORD}
    )
    assert replay.status_code == 404
    statuses = [i["status"] for i in httpx.get(f"{site.url}/auth/invitations", headers=lead).json()]
    assert statuses == ["accepted"]


def test_expired_and_revoked_invitations_cannot_be_redeemed(site):
    lead = sign_in(site.url, "lead@example.com")

    def invite(email):
        response = httpx.post(
            f"{site.url}/auth/invitations",
            json={"email": email, "role": "viewer", "scope": "t1"},
            headers=lead,
        )
        assert response.status_code == 201, response.text
        return response.json()

    late, revoked = invite("late@example.com"), invite("gone@example.com")
    assert (
        httpx.delete(f"{site.url}/auth/invitations/{revoked['id']}", headers=lead).status_code
        == 204
    )
    operator_call(
        site.db.admin,
        "update iam.invitations set expires_at = now() - interval '1 second' where id = %s",
        (late["id"],),
    )
    for invitation in (late, revoked):
        response = httpx.post(
            f"{site.url}/auth/invitations/accept",
            json={"token": invitation["token"], "password": NEW_PASSWORD},
        )
        assert response.status_code == 404
    assert operator_call(
        site.db.admin,
        "select count(*) from iam.users where email in ('late@example.com', 'gone@example.com')",
    ) == [(0,)]


def test_team_admins_invite_only_within_their_team(site):
    lead = sign_in(site.url, "lead@example.com")
    for body in (
        {"email": "x@example.com", "role": "platform_admin"},
        {"email": "x@example.com", "role": "developer"},  # no team: a global grant
    ):
        response = httpx.post(f"{site.url}/auth/invitations", json=body, headers=lead)
        assert response.status_code == 403, (body, response.text)
    other_team = httpx.post(
        f"{site.url}/auth/invitations",
        json={"email": "x@example.com", "role": "developer", "scope": "t2"},
        headers=lead,
    )
    assert other_team.status_code in (403, 404)
    assert operator_call(site.db.admin, "select count(*) from iam.invitations") == [(0,)]


def test_an_email_with_an_account_gets_no_invitation_but_a_way_in(site):
    """The account needs the team or the role, not a second account (accepting would fail).
    The refusal tells an inviter only that the account exists, as opening the link would,
    and someone who may not invite learns nothing."""

    def invite(headers, email, role="developer", scope="t1"):
        return httpx.post(
            f"{site.url}/auth/invitations",
            json={"email": email, "role": role, "scope": scope},
            headers=headers,
        )

    lead = sign_in(site.url, "lead@example.com")  # team admin of t1
    member = invite(lead, "Dev@Example.com", "team_admin")  # in t1: the lead sees them
    assert member.status_code == 409, member.text
    error = member.json()["error"]
    assert error["message"] == "an account with this email already exists"
    assert "api.add_team_member(team, user id)" in error["hint"]
    assert "POST /auth/users/{id}/roles" in error["hint"]
    stranger = invite(lead, "viewer@example.com")  # in no team of the lead's
    assert stranger.status_code == 409, stranger.text
    hint = stranger.json()["error"]["hint"]
    assert "ask a platform admin" in hint and "viewer" not in hint
    root = sign_in(site.url, "root@example.com")  # sees every account
    elsewhere = invite(root, "lead@example.com", "team_admin", "t2")
    assert elsewhere.status_code == 409, elsewhere.text
    assert "api.add_team_member(team, user id)" in elsewhere.json()["error"]["hint"]

    # a developer may not invite: the same refusal whether the email has an account or not
    dev = sign_in(site.url, "dev@example.com")
    taken, free = invite(dev, "viewer@example.com"), invite(dev, "nobody@example.com")
    assert taken.status_code == free.status_code == 403
    assert taken.json() == free.json()
    assert operator_call(site.db.admin, "select count(*) from iam.invitations") == [(0,)]
    # an address without an account is invited as before
    assert invite(lead, "newcomer@example.com").status_code == 201


def test_service_account_keys_rotate_with_and_without_grace(site):
    lead = sign_in(site.url, "lead@example.com")
    created = httpx.post(
        f"{site.url}/auth/service-accounts", json={"team": "t1", "name": "ci-bot"}, headers=lead
    )
    assert created.status_code == 201, created.text
    account = created.json()
    first_key = account["api_key"]["key"]

    def works(key):
        return (
            httpx.get(
                f"{site.url}/v1/models", headers={"Authorization": f"Bearer {key}"}
            ).status_code
            == 200
        )

    assert works(first_key)
    graceful = httpx.post(
        f"{site.url}/auth/service-accounts/{account['id']}/rotate-key",
        json={"grace_minutes": 30},
        headers=lead,
    )
    assert graceful.status_code == 200, graceful.text
    second_key = graceful.json()["key"]
    assert works(first_key) and works(second_key)  # both, during the grace period
    hard = httpx.post(f"{site.url}/auth/service-accounts/{account['id']}/rotate-key", headers=lead)
    third_key = hard.json()["key"]
    assert not works(first_key) and not works(second_key) and works(third_key)

    listed = httpx.get(f"{site.url}/auth/service-accounts", headers=lead).json()
    assert [(a["name"], a["status"]) for a in listed] == [("ci-bot", "active")]
    suspended = httpx.patch(
        f"{site.url}/auth/service-accounts/{account['id']}/status",
        json={"status": "suspended"},
        headers=lead,
    )
    assert suspended.status_code == 204
    assert not works(third_key)
    dev = sign_in(site.url, "dev@example.com")
    assert httpx.get(f"{site.url}/auth/service-accounts", headers=dev).status_code == 403
    refused = httpx.post(
        f"{site.url}/auth/service-accounts", json={"team": "t1", "name": "mine"}, headers=dev
    )
    assert refused.status_code == 403


def test_user_administration_is_for_platform_admins(site):
    admin = sign_in(site.url, "root@example.com")
    dev = sign_in(site.url, "dev@example.com")
    users = httpx.get(f"{site.url}/auth/users", headers=admin)
    assert users.status_code == 200
    assert {u["email"] for u in users.json()} >= {"dev@example.com", "lead@example.com"}
    assert httpx.get(f"{site.url}/auth/users", headers=dev).status_code == 403

    viewer = site.users["viewer"]
    grant = httpx.post(
        f"{site.url}/auth/users/{viewer}/roles",
        json={"role": "team_admin", "scope": "t2"},
        headers=admin,
    )
    assert grant.status_code == 201, grant.text
    assert (
        httpx.post(
            f"{site.url}/auth/users/{viewer}/roles",
            json={"role": "team_admin", "scope": "t2"},
            headers=admin,
        ).status_code
        == 409
    )
    by_dev = httpx.post(
        f"{site.url}/auth/users/{viewer}/roles", json={"role": "platform_admin"}, headers=dev
    )
    assert by_dev.status_code == 403
    revoke = httpx.delete(
        f"{site.url}/auth/users/{viewer}/roles/team_admin", params={"scope": "t2"}, headers=admin
    )
    assert revoke.status_code == 204
    roles = operator_call(
        site.db.admin, "select role from iam.user_roles where user_id = %s", (viewer,)
    )
    assert roles == [("viewer",)]
    assert (
        httpx.patch(
            f"{site.url}/auth/users/{viewer}/status", json={"status": "suspended"}, headers=dev
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/auth/login", {"email": "a@example.com"}),
        ("post", "/auth/login", {"email": 5, "password": []}),
        ("post", "/auth/register", {"email": "not-an-email", "password": NEW_PASSWORD}),
        ("post", "/auth/invitations/accept", {"token": "x" * 500, "password": "p"}),
    ],
)
def test_bad_input_gets_a_clear_error(site, method, path, body):
    response = httpx.request(method, f"{site.url}{path}", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"].startswith("Invalid")
    assert "p" not in error.get("input", "")


def test_every_auth_route_needs_a_session(site):
    for method, path in [
        ("get", "/auth/me"),
        ("post", "/auth/logout"),
        ("get", "/auth/invitations"),
        ("get", "/auth/service-accounts"),
        ("get", "/auth/users"),
    ]:
        response = httpx.request(method, f"{site.url}{path}")
        assert response.status_code == 401, path
        key = httpx.request(
            method, f"{site.url}{path}", headers={"Authorization": f"Bearer {site.key}"}
        )
        assert key.status_code == 401, path  # an API key is not a session


def test_sign_in_events_are_in_the_audit_log_without_secrets(site):
    for _ in range(5):
        login(site, "dev@example.com", "Not-The-Password-99")
    operator_call(site.db.admin, "delete from iam.login_throttle")
    headers = sign_in(site.url, "dev@example.com")
    change = httpx.post(
        f"{site.url}/auth/change-password",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert change.status_code == 204
    logout_headers = sign_in(site.url, "dev@example.com", NEW_PASSWORD)
    assert httpx.post(f"{site.url}/auth/logout", headers=logout_headers).status_code == 204
    rows = operator_call(
        site.db.admin,
        "select action, target_id, detail::text from audit.events "
        "where action like 'auth.%%' order by id",
    )
    actions = [a for a, _, _ in rows]
    assert actions == [
        *["auth.login_failed"] * 4,
        "auth.login_blocked",  # counted before the fifth password was checked
        "auth.login_failed",
        "auth.login",
        "auth.password_changed",
        "auth.login",
        "auth.logout",
    ]
    failed = [target for action, target, _ in rows if action == "auth.login_failed"]
    assert failed == [site.users["dev"]] * 5  # by user id, never by what was typed
    assert all(target == site.users["dev"] for _, target, _ in rows[6:])
    everything = str(operator_call(site.db.admin, "select * from audit.events"))
    for secret in (STRONG_PASSWORD, NEW_PASSWORD, "aigw_s_", "Not-The-Password-99"):
        assert secret not in everything
    assert "$argon2id$" not in everything
    verify = aigw(site.db, "audit", "verify")
    assert verify.returncode == 0, verify.stderr


def test_guesses_sent_at_once_are_counted_as_they_arrive(site):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(20) as pool:
        statuses = list(
            pool.map(
                lambda _: login(site, "dev@example.com", "Not-The-Password-99").status_code,
                range(20),
            )
        )
    assert statuses.count(401) == 5 and statuses.count(429) == 15, statuses


def test_an_unknown_email_is_audited_by_digest_not_by_what_was_typed(site):
    assert login(site, "hunter2-MySecretPass!", "x").status_code in (401, 422)
    assert login(site, "nobody@example.com", "Not-The-Password-99").status_code == 401
    everything = str(operator_call(site.db.admin, "select * from audit.events"))
    assert "hunter2" not in everything and "nobody@example.com" not in everything
    assert "email_sha256" in everything


def test_the_current_password_of_a_change_is_throttled_and_audited(site):
    headers = sign_in(site.url, "dev@example.com")

    def change(current):
        return httpx.post(
            f"{site.url}/auth/change-password",
            json={"current_password": current, "new_password": NEW_PASSWORD},
            headers=headers,
        ).status_code

    assert [change("Wrong-Guess-Number-1") for _ in range(5)] == [403] * 5
    assert change(STRONG_PASSWORD) == 429  # even the right one, until the block ends
    failed = operator_call(
        site.db.admin, "select count(*) from audit.events where action = 'auth.login_failed'"
    )
    assert failed == [(5,)]


def test_an_invitation_dies_with_its_inviters_authority(site):
    lead = sign_in(site.url, "lead@example.com")
    created = httpx.post(
        f"{site.url}/auth/invitations",
        json={"email": "backdoor@example.com", "role": "team_admin", "scope": "t1"},
        headers=lead,
    )
    assert created.status_code == 201, created.text
    operator_call(
        site.db.admin,
        "select api.revoke_role(%s, 'team_admin', 't1')",
        (site.users["lead"],),
    )
    accept = httpx.post(
        f"{site.url}/auth/invitations/accept",
        json={"token": created.json()["token"], "password": NEW_PASSWORD},
    )
    assert accept.status_code == 404, accept.text
    assert "may no longer grant" in accept.json()["error"]["message"]
    assert operator_call(
        site.db.admin, "select count(*) from iam.users where email = 'backdoor@example.com'"
    ) == [(0,)]


def test_cookies_are_secure_in_the_cloud_whatever_the_host(
    db, redis_url, mock_upstream, monkeypatch
):
    from api.app import create_app
    from api.gateway.accounting import MemorySink
    from api.gateway.config import load_config
    from tests.helpers import serving

    monkeypatch.setenv("AIGW_ENV", "cloud")
    create_user(db.admin, "cloud@example.com", roles=(("developer", None),))
    config = load_config(env={}, mock_provider_url=mock_upstream[0])
    app = create_app(db.app, redis_url, gateway_config=config, events=MemorySink())
    with serving(app) as url:  # http://127.0.0.1:…, as behind a proxy that rewrites Host
        response = httpx.post(
            f"{url}/auth/login", json={"email": "cloud@example.com", "password": STRONG_PASSWORD}
        )
    assert response.status_code == 200, response.text
    assert "secure" in response.headers["set-cookie"].lower()


def test_sign_ups_per_address_are_bounded_even_when_they_fail(site, monkeypatch):
    monkeypatch.setenv("ALLOWED_EMAIL_DOMAINS", "example.com")
    body = {"email": "dev@example.com", "password": NEW_PASSWORD}  # taken: 409 says so
    statuses = [httpx.post(f"{site.url}/auth/register", json=body).status_code for _ in range(11)]
    assert statuses == [409] * 10 + [429]


def test_no_response_that_carries_a_secret_may_be_cached(site):
    lead = sign_in(site.url, "lead@example.com")
    responses = {
        "login": login(site, "dev@example.com"),
        "invitation": httpx.post(
            f"{site.url}/auth/invitations",
            json={"email": "cache@example.com", "role": "developer", "scope": "t1"},
            headers=lead,
        ),
        "service account": httpx.post(
            f"{site.url}/auth/service-accounts", json={"team": "t1", "name": "nc"}, headers=lead
        ),
    }
    account = responses["service account"].json()["id"]
    responses["rotation"] = httpx.post(
        f"{site.url}/auth/service-accounts/{account}/rotate-key", headers=lead
    )
    for name, response in responses.items():
        assert response.status_code in (200, 201), (name, response.text)
        assert response.headers.get("cache-control") == "no-store", name


def test_failed_logins_are_throttled_per_client_address_too(site):
    # 50 different emails from one address (spraying one password across accounts)
    for i in range(50):
        response = login(site, f"sprayed{i}@example.com", "Spring-Spray-2026!")
        assert response.status_code == 401, (i, response.text)
    blocked = login(site, "dev@example.com")  # even a right password, from this address
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
