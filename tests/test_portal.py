"""The portals over HTTP, as a browser without JavaScript sees them: which requests get a
page and which the JSON API, sign-in with the session cookie, the forced password change,
CSRF refusals, security headers, escaping of hostile values, and that no page names
another origin. (tests/test_portal_browser.py drives a real browser.)"""

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.helpers import STRONG_PASSWORD, create_user, operator_call, sign_in

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
NEW_PASSWORD = "Lantern-Orchid-Meadow-47"
ADMIN_PAGES = (
    "/admin",
    "/admin/users",
    "/admin/teams",
    "/admin/areas",
    "/admin/api-keys",
    "/admin/policies",
    "/admin/guardrails",
    "/admin/pricing",
    "/admin/models",
    "/admin/mcp",
    "/admin/insights",
    "/admin/transformation",
    "/admin/audit",
    "/admin/system",
)
PORTAL_PAGES = ("/portal", "/portal/setup", "/portal/usage", "/portal/transformation")


class Links(HTMLParser):
    """Every src/href/action of a page, and its forms' fields."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name in ("src", "href", "action", "formaction", "data", "poster"):
            if values.get(name):
                self.urls.append(values[name])
        if tag == "form":
            self.forms.append({"method": (values.get("method") or "get").lower(), "fields": {}})
            self.forms[-1]["action"] = values.get("action")
        elif tag in ("input", "select", "textarea", "button") and self.forms and values.get("name"):
            self.forms[-1]["fields"][values["name"]] = values.get("value", "")


def parse(html: str) -> Links:
    links = Links()
    links.feed(html)
    return links


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def browser(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers=HTML, follow_redirects=False, timeout=30)


def sign_in_form(client: httpx.Client, email: str, password: str, **extra) -> httpx.Response:
    page = client.get("/login")
    assert page.status_code == 200
    form = {"csrf": csrf_of(page.text), "email": email, "password": password, **extra}
    return client.post("/login", data=form)


def change_password(client: httpx.Client, current: str, new: str) -> httpx.Response:
    page = client.get("/admin")
    assert page.status_code == 403 and "Choose a new password" in page.text
    form = {
        "csrf": csrf_of(page.text),
        "current_password": current,
        "new_password": new,
        "confirm_password": new,
        "next": "/admin",
    }
    return client.post("/account/password", data=form)


@pytest.fixture
def admin(gateway):
    create_user(gateway.db.admin, "root@example.com", roles=(("platform_admin", None),))
    client = browser(gateway.url)
    assert sign_in_form(client, "root@example.com", STRONG_PASSWORD).status_code == 303
    yield client
    client.close()


@pytest.fixture
def viewer(gateway):
    create_user(gateway.db.admin, "view@example.com", roles=(("viewer", None),), teams=("t1",))
    client = browser(gateway.url)
    assert sign_in_form(client, "view@example.com", STRONG_PASSWORD).status_code == 303
    yield client
    client.close()


def areas(gateway) -> set[str]:
    return {
        name for (name,) in operator_call(gateway.db.admin, "select name from api.list_areas()")
    }


# -- pages or JSON ----------------------------------------------------------------------


def test_scripts_keep_the_json_api_at_the_same_paths(gateway, admin):
    create_user(gateway.db.admin, "ops@example.com", roles=(("platform_admin", None),))
    headers = sign_in(gateway.url, "ops@example.com")
    for accept in (None, "*/*", "application/json"):
        extra = {"Accept": accept} if accept else {}
        response = httpx.get(f"{gateway.url}/admin/teams", headers=headers | extra)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert [t["name"] for t in response.json()] == ["t1"]
    # a JSON body to a path that also has a page form still reaches the API
    created = httpx.post(f"{gateway.url}/admin/areas", json={"name": "json-area"}, headers=headers)
    assert created.status_code == 201 and "id" in created.json()
    page = admin.get("/admin/teams")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Teams</h1>" in page.text


def test_a_browser_without_a_session_is_sent_to_sign_in(gateway):
    with browser(gateway.url) as client:
        response = client.get("/admin/api-keys?status=active")
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=%2Fadmin%2Fapi-keys%3Fstatus%3Dactive"
        # the JSON API answers a script without a session as before
        assert httpx.get(f"{gateway.url}/admin/teams").status_code == 401


# -- sign-in, cookie, forced password change -------------------------------------------------


def test_sign_in_sets_an_httponly_session_cookie_persistent_only_when_asked(gateway):
    create_user(gateway.db.admin, "dev@example.com", roles=(("developer", None),), teams=("t1",))
    for stay, persistent in ((False, False), (True, True)):
        with browser(gateway.url) as client:
            extra = {"stay_signed_in": "on"} if stay else {}
            response = sign_in_form(client, "dev@example.com", STRONG_PASSWORD, **extra)
            assert response.status_code == 303
            cookie = next(
                c for c in response.headers.get_list("set-cookie") if c.startswith("aigw_session=")
            )
            lowered = cookie.lower()
            assert "httponly" in lowered and "samesite=lax" in lowered
            assert ("max-age=2592000" in lowered) is persistent
            assert client.get("/portal").status_code == 200


def test_a_wrong_password_is_said_on_the_page(gateway):
    create_user(gateway.db.admin, "dev@example.com")
    with browser(gateway.url) as client:
        response = sign_in_form(client, "dev@example.com", "not-the-password")
        assert response.status_code == 401
        assert "Wrong email or password." in response.text
        assert "aigw_session=" not in response.headers.get("set-cookie", "")


def test_the_forced_password_change_blocks_every_page_until_done(gateway):
    create_user(
        gateway.db.admin, "new@example.com", roles=(("platform_admin", None),), must_change=True
    )
    with browser(gateway.url) as client:
        assert sign_in_form(client, "new@example.com", STRONG_PASSWORD).status_code == 303
        for path in ("/admin/teams", "/portal", "/admin/audit"):
            page = client.get(path)
            assert page.status_code == 403 and "Choose a new password" in page.text
            assert "12 characters" in page.text
        weak = change_password(client, STRONG_PASSWORD, "short1!A")
        assert weak.status_code == 422
        assert "use at least 12 characters" in weak.text
        done = change_password(client, STRONG_PASSWORD, NEW_PASSWORD)
        assert done.status_code == 303 and done.headers["location"] == "/admin"
        assert client.get("/admin/teams").status_code == 200
    # the old password is gone, the new one signs in
    with browser(gateway.url) as client:
        assert sign_in_form(client, "new@example.com", STRONG_PASSWORD).status_code == 401
        assert sign_in_form(client, "new@example.com", NEW_PASSWORD).status_code == 303


def test_logout_ends_the_session(gateway, admin):
    page = admin.get("/admin")
    token = admin.cookies["aigw_session"]
    response = admin.post("/logout", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{gateway.url}/auth/me", headers=bearer).status_code == 401


# -- CSRF, headers, escaping ----------------------------------------------------------------


def test_a_form_without_the_right_csrf_token_is_refused_and_changes_nothing(gateway, admin):
    page = admin.get("/admin/areas")
    token = csrf_of(page.text)
    for form, headers in (
        ({"name": "forged-1"}, {}),
        ({"name": "forged-2", "csrf": "x" * 43}, {}),
        ({"name": "forged-3", "csrf": token}, {"Origin": "https://evil.example"}),
    ):
        response = admin.post("/admin/areas", data=form, headers=headers)
        assert response.status_code == 403, form
        assert "security token" in response.text
    assert areas(gateway) == set()
    ok = admin.post("/admin/areas", data={"name": "real", "csrf": token})
    assert ok.status_code == 303
    assert areas(gateway) == {"real"}


def test_a_sign_in_form_from_another_site_is_refused(gateway):
    create_user(gateway.db.admin, "dev@example.com")
    with browser(gateway.url) as client:
        response = client.post(
            "/login", data={"email": "dev@example.com", "password": STRONG_PASSWORD, "csrf": "a"}
        )
        assert response.status_code == 403
        assert "aigw_session" not in response.headers.get("set-cookie", "")


def test_pages_and_assets_carry_the_security_headers(gateway, admin):
    for path, cookies in (
        ("/login", None),
        ("/admin", admin.cookies),
        ("/assets/portal.css", None),
        ("/assets/htmx.min.js", None),
    ):
        response = httpx.get(f"{gateway.url}{path}", headers=HTML, cookies=cookies)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert admin.get("/admin").headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("<script>alert(1)</script>", "invalid team name"),
        ("bad\x00name", "control characters are not allowed"),
        ("a" * 300, "at most 63 characters"),
        ("'; drop table iam.teams; --", "invalid team name"),
        ("", "required"),
    ],
)
def test_hostile_values_are_refused_with_a_clear_message_and_rendered_escaped(
    gateway, admin, name, message
):
    page = admin.get("/admin/teams")
    response = admin.post("/admin/teams", data={"csrf": csrf_of(page.text), "name": name})
    assert response.status_code == 422
    assert message.lower() in response.text.lower()
    assert "<script>alert(1)</script>" not in response.text
    teams = operator_call(gateway.db.admin, "select name from api.list_teams()")
    assert teams == [("t1",)]


def test_a_stored_hostile_value_is_shown_escaped(gateway, admin):
    hostile = '<img src=x onerror="alert(1)">'
    operator_call(
        gateway.db.admin,
        "select api.create_user(%s, %s)",
        ("odd@example.com", hostile),
    )
    page = admin.get("/admin/users")
    assert hostile not in page.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page.text


def test_no_page_references_another_origin(gateway, admin):
    pages = [*ADMIN_PAGES, *PORTAL_PAGES]
    seen = []
    for path in pages:
        response = admin.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        for url in parse(response.text).urls:
            absolute = urlsplit(urljoin(gateway.url + path, url))
            seen.append(url)
            assert f"{absolute.scheme}://{absolute.netloc}" == gateway.url, (path, url)
    with browser(gateway.url) as client:
        for path in ("/login", "/auth/invitations/accept"):
            for url in parse(client.get(path).text).urls:
                assert urlsplit(urljoin(gateway.url, url)).netloc == urlsplit(gateway.url).netloc
    assert "/assets/htmx.min.js" in seen


# -- roles ----------------------------------------------------------------------------------


def test_a_viewer_sees_no_write_controls_and_a_forged_post_changes_nothing(gateway, viewer):
    for path in ADMIN_PAGES:
        response = viewer.get(path)
        assert response.status_code in (200, 403), path
        posts = [f for f in parse(response.text).forms if f["method"] == "post"]
        assert [f["action"] for f in posts] == ["/logout"], path
    # A post with their own session but no valid token: 403, nothing changed.
    before = operator_call(gateway.db.admin, "select count(*) from api.list_keys()")
    forged = viewer.post("/admin/api-keys", data={"team": "t1", "name": "sneaky"})
    assert forged.status_code == 403
    assert operator_call(gateway.db.admin, "select count(*) from api.list_keys()") == before
    # And with a valid token the database still says no.
    token = csrf_of(viewer.get("/admin").text)
    refused = viewer.post("/admin/areas", data={"name": "mine", "csrf": token})
    assert refused.status_code == 403 and "platform admins" in refused.text
    assert areas(gateway) == set()


def test_a_team_admin_sees_only_their_teams(gateway):
    operator_call(gateway.db.admin, "select api.create_team('t2')")
    create_user(gateway.db.admin, "lead@example.com", roles=(("team_admin", "t2"),))
    with browser(gateway.url) as client:
        sign_in_form(client, "lead@example.com", STRONG_PASSWORD)
        page = client.get("/admin/teams").text
        assert "<td>t2</td>" in page and "<td>t1</td>" not in page
        keys = client.get("/admin/api-keys").text
        assert "<td>t1</td>" not in keys


def test_lists_are_filtered_and_paginated_by_the_server(gateway, admin):
    for i in range(30):
        operator_call(gateway.db.admin, "select api.create_area(%s)", (f"area-{i:02d}",))
    first = admin.get("/admin/areas").text
    assert "30 in all · page 1 of 2" in first and "area-24" in first and "area-25" not in first
    second = admin.get("/admin/areas?page=2").text
    assert "area-25" in second and "area-00" not in second
    filtered = admin.get("/admin/areas?q=area-1").text
    assert "10 in all" in filtered and "area-21" not in filtered
    # LIKE's wildcards are text to match, not patterns
    assert "0 in all" in admin.get("/admin/areas?q=%25").text


def test_service_accounts_are_paginated_apart_from_the_users(gateway, admin):
    for i in range(30):
        operator_call(
            gateway.db.admin, "select api.create_service_account('t1', %s)", (f"bot-{i:02d}",)
        )
    first = admin.get("/admin/users").text
    accounts = first.split('id="service-accounts"', 1)[1]
    assert (
        "30 in all · page 1 of 2" in accounts and "bot-24" in accounts and "bot-25" not in accounts
    )
    second = admin.get("/admin/users?sa_page=2").text.split('id="service-accounts"', 1)[1]
    assert "bot-25" in second and "bot-00" not in second
    filtered = admin.get("/admin/users?sa_q=bot-1").text.split('id="service-accounts"', 1)[1]
    assert "10 in all" in filtered and "bot-21" not in filtered


def test_a_platform_admin_revokes_a_role_on_the_users_page(gateway, admin):
    create_user(gateway.db.admin, "lead@example.com", roles=(("team_admin", "t1"),))
    page = admin.get("/admin/users?q=lead")
    form = next(
        f for f in parse(page.text).forms
        if f["action"] == "/admin/users/roles/revoke" and f["fields"]["grant"] == "team_admin:t1"
    )  # fmt: skip
    done = admin.post("/admin/users/roles/revoke", data=form["fields"])
    assert done.status_code == 303
    assert "Role team_admin:t1 revoked." in admin.get(done.headers["location"]).text
    roles = "select roles from api.list_users() where email = 'lead@example.com'"
    assert operator_call(gateway.db.admin, roles) == [([],)]
    # again: the role is gone, said on the page; a made-up role is refused before the database
    again = admin.post("/admin/users/roles/revoke", data=form["fields"])
    assert again.status_code == 404 and "does not hold this role" in again.text
    bogus = admin.post("/admin/users/roles/revoke", data=form["fields"] | {"grant": "root:t1"})
    assert bogus.status_code == 422 and "not one of the roles" in bogus.text


def test_an_issued_key_is_shown_once_and_works(gateway, admin):
    page = admin.get("/admin/api-keys")
    response = admin.post(
        "/admin/api-keys",
        data={"csrf": csrf_of(page.text), "team": "t1", "name": "ci-bot", "scopes": "inference"},
    )
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    key = re.search(r'value="(sk-aigw-[^"]+)"', response.text).group(1)
    again = admin.get("/admin/api-keys").text
    assert key not in again and "ci-bot" in again
    answer = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert answer.status_code == 200, answer.text


def test_an_invitation_link_is_redeemed_on_its_page(gateway, admin):
    page = admin.get("/admin/users")
    response = admin.post(
        "/admin/users/invite",
        data={
            "csrf": csrf_of(page.text),
            "email": "lead@example.com",
            "role": "team_admin",
            "scope": "t1",
        },
    )
    assert response.status_code == 200, response.text
    link = re.search(r'value="(http[^"]+/auth/invitations/accept#token=[^"]+)"', response.text)
    token = link.group(1).split("#token=")[1]
    with browser(gateway.url) as invited:
        form = invited.get("/auth/invitations/accept")
        assert form.status_code == 200
        fields = {
            "csrf": csrf_of(form.text),
            "token": token,
            "password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        }
        done = invited.post("/auth/invitations/accept", data=fields)
        assert done.status_code == 303, done.text
        assert invited.get("/admin/teams").status_code == 200
        used = invited.post("/auth/invitations/accept", data=fields)
        assert used.status_code == 404 and "already used" in used.text


def test_a_double_submit_is_refused_the_second_time_with_a_message(gateway, admin):
    token = csrf_of(admin.get("/admin/areas").text)
    assert admin.post("/admin/areas", data={"name": "twice", "csrf": token}).status_code == 303
    again = admin.post("/admin/areas", data={"name": "twice", "csrf": token})
    assert again.status_code == 409
    assert 'Area "twice" already exists.' in again.text.replace("&#34;", '"')
    assert areas(gateway) == {"twice"}


def test_a_token_of_an_earlier_session_is_stale(gateway, admin):
    stale = csrf_of(admin.get("/admin/areas").text)
    admin.cookies.clear()
    assert sign_in_form(admin, "root@example.com", STRONG_PASSWORD).status_code == 303
    refused = admin.post("/admin/areas", data={"name": "late", "csrf": stale})
    assert refused.status_code == 403 and "stale" in refused.text
    assert areas(gateway) == set()


def test_a_form_sent_after_the_session_ended_saves_nothing_and_says_so(gateway, admin):
    page = admin.get("/admin/areas")
    token = csrf_of(page.text)
    # the session ends elsewhere (signed out in another tab, or it expired)
    operator_call(gateway.db.admin, "update iam.sessions set expires_at = now() - interval '1 s'")
    response = admin.post(
        "/admin/areas",
        data={"name": "lost", "csrf": token},
        headers={"Referer": f"{gateway.url}/admin/areas?page=1"},
    )
    assert response.status_code == 401
    assert "Your session has ended, so nothing was saved" in response.text
    assert 'href="/login?next=%2Fadmin%2Fareas%3Fpage%3D1"' in response.text
    assert areas(gateway) == set()


def test_an_unknown_page_is_a_page_saying_so(gateway, admin):
    for response in (
        admin.get("/admin/no-such-page"),
        admin.post("/admin/no-such-page", data={"x": "1"}),
        admin.get("/admin/users/invite"),  # a form handler's path, asked for as a page
    ):
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "There is no such page." in response.text


def test_a_developer_creates_and_revokes_a_personal_key_in_the_portal(gateway):
    create_user(gateway.db.admin, "dev@example.com", roles=(("developer", None),), teams=("t1",))
    with browser(gateway.url) as client:
        sign_in_form(client, "dev@example.com", STRONG_PASSWORD)
        page = client.get("/portal")
        assert page.status_code == 200
        created = client.post(
            "/portal/keys", data={"csrf": csrf_of(page.text), "team": "t1", "name": "laptop"}
        )
        assert created.status_code == 200
        assert re.search(r'value="sk-aigw-[0-9A-Za-z]{36}"', created.text)
        rows = operator_call(
            gateway.db.admin,
            "select id, owner_email, status from api.list_keys('t1') where name = 'laptop'",
        )
        assert [(email, status) for _, email, status in rows] == [("dev@example.com", "active")]
        listed = client.get("/portal").text
        # their own key has a revoke button; the team's key (not theirs) has none
        assert listed.count('action="/portal/keys/revoke"') == 1
        revoked = client.post(
            "/portal/keys/revoke", data={"csrf": csrf_of(listed), "id": str(rows[0][0])}
        )
        assert revoked.status_code == 303
        status = operator_call(
            gateway.db.admin, "select status from api.list_keys('t1') where name = 'laptop'"
        )
        assert status == [("revoked",)]
        # someone else's key: the database refuses, the page says so
        refused = client.post(
            "/portal/keys/revoke", data={"csrf": csrf_of(listed), "id": gateway.key_id}
        )
        assert refused.status_code in (403, 404)
        assert "error" in refused.text


def test_the_setup_tab_fills_in_this_gateway(gateway, admin):
    page = admin.get("/portal/setup").text
    assert f"ANTHROPIC_BASE_URL={gateway.url}/anthropic" in page
    assert f'base_url = "{gateway.url}/v1"' in page
    assert f"{gateway.url}/hooks/claude-code" in page


def test_a_team_the_user_may_not_see_is_not_found_and_nothing_changes(gateway):
    operator_call(gateway.db.admin, "select api.create_team('t2')")
    create_user(gateway.db.admin, "lead@example.com", roles=(("team_admin", "t2"),))
    with browser(gateway.url) as client:
        sign_in_form(client, "lead@example.com", STRONG_PASSWORD)
        token = csrf_of(client.get("/admin/teams").text)
        response = client.post(
            "/admin/teams/spend-limit",
            data={"csrf": token, "team": "t1", "period": "day", "hard_limit_usd": "5"},
        )
        assert response.status_code == 404
        assert "not found" in response.text.lower()
        assert "<td>t1</td>" not in response.text  # the page shown again is still theirs
    assert operator_call(gateway.db.admin, "select count(*) from api.list_budgets('t1')") == [(0,)]
