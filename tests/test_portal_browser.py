"""The portals in a real browser (Playwright driving Debian's chromium): the bootstrap
admin's first session end to end, a viewer's read-only view and a forged post from it,
and axe-core's accessibility rules on every page.

Run alone: `.venv/bin/pytest tests/test_portal_browser.py` (chromium comes from apt, see
tests/browser.py).
"""

import os
import re
import time
from pathlib import Path

import pytest
from openai import OpenAI

from api import analytics
from api.app import create_app
from api.bootstrap import bootstrap
from api.gateway.config import load_config
from api.passwords import hash_password
from tests import browser as chromium
from tests.analytics_data import EventLog, create_world
from tests.helpers import STRONG_PASSWORD, create_user, operator_call, serving
from tests.test_portal import ADMIN_PAGES, PORTAL_PAGES

playwright_api = pytest.importorskip("playwright.sync_api")

NEW_PASSWORD = "Lantern-Orchid-Meadow-47"
LEAD_PASSWORD = "Copper-Willow-Beacon-93"
EVENT_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def chromium_browser():
    if reason := chromium.ensure_chromium():
        pytest.skip(reason)
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium.CHROMIUM), args=chromium.LAUNCH_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def portal(db, redis_url, mock_upstream, tmp_path):
    """The whole app with the durable event writer (the Dashboard reads what it records)
    over a database as `aigw up` seeds it."""
    mock_url, _ = mock_upstream
    first_run = bootstrap(db.admin)
    config = load_config(env={}, mock_provider_url=mock_url)
    app = create_app(db.app, redis_url, gateway_config=config, spool_dir=tmp_path / "spool")
    with serving(app) as url:
        yield url, first_run, db


def new_page(browser, url: str):
    context = browser.new_context(base_url=url)
    return context, context.new_page()


def sign_in(page, email: str, password: str, next_path: str = "/admin") -> None:
    page.goto(next_path)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def notice(page) -> str:
    return page.locator(".notice").inner_text()


def serious_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v["id"] for v in results.response["violations"] if v["impact"] in SERIOUS]


def test_first_session_of_the_bootstrap_admin(chromium_browser, portal, tmp_path):
    url, first_run, db = portal
    context, page = new_page(chromium_browser, url)

    # Signed out, any page leads to sign-in; the one-time password forces a change.
    sign_in(page, first_run.admin_email, first_run.admin_password)
    page.get_by_role("heading", name="Choose a new password").wait_for()
    assert page.url.endswith("/admin")
    page.get_by_label("Current password").fill(first_run.admin_password)
    new_password = page.get_by_label("New password", exact=True)
    new_password.press_sequentially("abc")
    missing = page.locator("#new_password-missing")
    assert "Missing: at least 12 characters" in missing.inner_text()
    assert "Missing: a digit" in missing.inner_text()
    new_password.fill(NEW_PASSWORD)
    assert "Meets the character rules" in missing.inner_text()
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    assert notice(page) == "Password changed."
    assert page.locator("[data-figure=requests]").inner_text() == "0"

    # An area, a team in it.
    page.get_by_role("link", name="Areas").click()
    page.get_by_label("Name", exact=True).fill("platform")
    page.get_by_role("button", name="Create area").click()
    assert notice(page) == "Area platform created."
    page.get_by_role("link", name="Teams").click()
    page.get_by_label("Name", exact=True).fill("payments")
    page.get_by_label("Area", exact=True).select_option("platform")
    page.get_by_role("button", name="Create team").click()
    assert notice(page) == "Team payments created."

    # Invite a team admin; they redeem the link in a browser of their own.
    page.get_by_role("link", name="Users & Access").click()
    invite = page.locator("form[action='/admin/users/invite']")
    invite.get_by_label("Email", exact=True).fill("lead@example.com")
    invite.get_by_label("Role", exact=True).select_option("team_admin")
    invite.get_by_label("Team or area", exact=True).fill("payments")
    page.get_by_role("button", name="Create invitation link").click()
    link = page.get_by_label("Invitation link").input_value()
    assert "/auth/invitations/accept#token=aigw_inv_" in link

    lead_context, lead = new_page(chromium_browser, url)
    lead.goto(link)
    # the script took the token from the fragment and hid the field
    assert lead.locator("#token").input_value() == link.split("#token=")[1]
    assert not lead.locator("#token").is_visible()
    lead.get_by_label("Your name (optional)").fill("Lea Lead")
    lead.get_by_label("Password", exact=True).fill(LEAD_PASSWORD)
    lead.get_by_label("Repeat the password").fill(LEAD_PASSWORD)
    lead.get_by_role("button", name="Create my account").click()
    lead.get_by_role("heading", name="Dashboard").wait_for()
    lead.get_by_role("link", name="Teams").click()
    teams = lead.locator("tbody td:first-child").all_inner_texts()
    assert teams == ["payments"]  # the demo team is not theirs to see
    lead_context.close()

    # A key, shown once, that works through the OpenAI SDK.
    page.get_by_role("link", name="API Keys").click()
    page.get_by_label("Team", exact=True).select_option("payments")
    page.get_by_label("Name", exact=True).fill("ci-bot")
    page.get_by_role("button", name="Issue key").click()
    key = page.get_by_label("API key").input_value()
    assert key.startswith("sk-aigw-")
    page.reload()
    assert key not in page.content() and "ci-bot" in page.content()

    page.get_by_role("link", name="Dashboard").click()
    answer = OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Hello from the portal test"}]
    )
    assert answer.choices[0].message.content
    # The open Dashboard refreshes itself (htmx polling) until the request is recorded.
    figure = page.locator("[data-figure=requests]")
    playwright_api.expect(figure).to_have_text("1", timeout=EVENT_TIMEOUT_MS)
    assert page.url.endswith("/admin")  # no reload: the figures were swapped in place

    # The marts' refresh (every few minutes under `aigw up`) runs now: Insights shows the
    # request, charts and all, and passes axe like every other page.
    result = analytics.build(db.admin, work_dir=tmp_path / "dbt")
    assert result.ok, "\n".join(result.output_tail[-20:])
    page.get_by_role("link", name="Insights").click()
    assert page.locator("[data-figure=requests]").inner_text() == "1"
    by_team = page.locator("table", has=page.get_by_role("columnheader", name="Team"))
    assert by_team.locator("tbody td").first.inner_text() == "payments"
    assert page.locator("figure.chart svg rect").count() >= 1
    assert serious_violations(page) == []
    page.get_by_role("link", name="AI Transformation").click()
    page.get_by_role("heading", name="Adoption, last 12 weeks").wait_for()
    assert serious_violations(page) == []

    # Sign out ends the session.
    page.get_by_role("button", name="Sign out").click()
    assert notice(page) == "You are signed out."
    page.goto("/admin/teams")
    assert "/login" in page.url
    context.close()


def test_a_viewer_sees_no_write_controls_and_a_forged_post_is_refused(chromium_browser, portal):
    url, _, db = portal
    create_user(db.admin, "viewer@example.com", roles=(("viewer", None),))
    context, page = new_page(chromium_browser, url)
    sign_in(page, "viewer@example.com", STRONG_PASSWORD)
    page.get_by_role("heading", name="Dashboard").wait_for()
    for path in ADMIN_PAGES:
        page.goto(path)
        actions = page.locator("form[method=post]").evaluate_all(
            "forms => forms.map(f => f.getAttribute('action'))"
        )
        assert actions == ["/logout"], path
    before = operator_call(db.admin, "select count(*) from api.list_keys()")
    # A form post from the viewer's own session (its cookie) without the page's token.
    forged = context.request.post(
        f"{url}/admin/api-keys", form={"team": "demo", "name": "sneaky"}, max_redirects=0
    )
    assert forged.status == 403
    assert "security token" in forged.text()
    assert operator_call(db.admin, "select count(*) from api.list_keys()") == before
    context.close()


SERIOUS = ("serious", "critical")


def test_every_page_passes_axe_and_fits_at_200_percent_zoom(chromium_browser, portal):
    from axe_playwright_python.sync_playwright import Axe

    url, first_run, db = portal
    create_user(db.admin, "ops@example.com", roles=(("platform_admin", None),), teams=("demo",))
    create_user(db.admin, "fresh@example.com", must_change=True)
    axe = Axe()
    problems: dict[str, list[str]] = {}

    def check(page, name: str) -> None:
        results = axe.run(page)
        bad = [v for v in results.response["violations"] if v["impact"] in SERIOUS]
        if bad:
            problems[name] = [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in bad]
        # 200 % zoom of a 1280-pixel window: 640 CSS pixels, and no sideways scrolling
        # of the page itself (wide tables scroll inside their own box).
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 1:
            problems.setdefault(name, []).append(f"{overflow}px wider than the window")

    context = chromium_browser.new_context(base_url=url, viewport={"width": 640, "height": 900})
    page = context.new_page()
    page.goto("/login")
    check(page, "/login")
    page.goto("/auth/invitations/accept")
    check(page, "/auth/invitations/accept")
    sign_in(page, "fresh@example.com", STRONG_PASSWORD, "/portal")
    page.get_by_role("heading", name="Choose a new password").wait_for()
    check(page, "the forced password change")
    context.clear_cookies()
    sign_in(page, "ops@example.com", STRONG_PASSWORD)
    page.get_by_role("heading", name="Dashboard").wait_for()
    started = time.monotonic()
    for path in (*ADMIN_PAGES, *PORTAL_PAGES):
        page.goto(path)
        check(page, path)
    assert problems == {}
    assert time.monotonic() - started < 60
    page.goto("/portal/setup")
    assert re.search(r"ANTHROPIC_BASE_URL=http://127\.0\.0\.1:\d+/anthropic", page.content())
    context.close()


def test_a_developer_creates_a_key_opts_into_the_leaderboard_and_appears_there(
    chromium_browser, portal, tmp_path
):
    from axe_playwright_python.sync_playwright import Axe

    url, _, db = portal
    world = create_world(db.admin, db.app)
    log = EventLog(db.admin, world)
    log.generate(days=20)
    log.write()
    assert analytics.build(db.admin, work_dir=tmp_path / "dbt").ok
    # solo: the busiest agent user, who never opted in to a leaderboard
    operator_call(
        db.admin,
        "select api.set_user_password(%s, %s, false)",
        (world.users["solo"], hash_password(STRONG_PASSWORD)),
    )
    context = chromium_browser.new_context(base_url=url, viewport={"width": 640, "height": 900})
    page = context.new_page()
    sign_in(page, "solo@example.com", STRONG_PASSWORD, "/portal")
    # a personal key, shown once
    page.get_by_role("heading", name="Your keys").wait_for()
    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_label("API key").input_value()
    assert key.startswith("sk-aigw-")
    owner = "select owner_email from api.list_keys('solo') where name = 'laptop'"
    assert operator_call(db.admin, owner) == [("solo@example.com",)]
    page.get_by_role("link", name="Transformation").click()
    page.get_by_role("heading", name="Transformation").wait_for()
    # the pages with figures in them: axe's rules, and no sideways scrolling at 200 %
    axe = Axe()
    for path in ("/portal/usage", "/portal/transformation"):
        page.goto(path)
        bad = [v["id"] for v in axe.run(page).response["violations"] if v["impact"] in SERIOUS]
        assert bad == [], path
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    assert page.get_by_role("img", name=re.compile(r"Agentic score \d+ of 100")).is_visible()
    company = page.get_by_role("table", name=re.compile("^Company"))
    assert "solo (you)" not in company.inner_text()

    page.get_by_label("The company leaderboard").check()
    page.get_by_role("button", name="Save my choice").click()
    assert notice(page) == "Saved: you appear on the company board from the next refresh."
    assert page.get_by_label("The company leaderboard").is_checked()
    assert not page.get_by_label("My teams' leaderboards").is_checked()
    # the refresh the gateway runs every few minutes, here at once
    assert analytics.build(db.admin, select="leaderboard", work_dir=tmp_path / "dbt").ok
    page.reload()
    me = page.get_by_role("table", name=re.compile("^Company")).locator("tr.me")
    assert "solo (you)" in me.inner_text()
    team = page.get_by_role("table", name=re.compile("^Team solo"))
    assert "solo (you)" not in team.inner_text()  # the team board stayed off
    context.close()


@pytest.mark.skipif(
    not os.environ.get("AIGW_SCREENSHOTS"),
    reason="writes the README's screenshots: AIGW_SCREENSHOTS=docs/screenshots",
)
def test_screenshots_of_every_page(chromium_browser, portal, tmp_path):
    """Regenerates docs/screenshots/ (see README, Portals)."""
    url, first_run, db = portal
    create_user(db.admin, "ops@example.com", roles=(("platform_admin", None),), teams=("demo",))
    target = Path(os.environ["AIGW_SCREENSHOTS"])
    target.mkdir(parents=True, exist_ok=True)
    context = chromium_browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("/login")
    page.screenshot(path=target / "login.png", full_page=True)
    sign_in(page, "ops@example.com", STRONG_PASSWORD)
    page.get_by_role("heading", name="Dashboard").wait_for()
    # a request on the Dashboard, from the key `aigw up` printed
    OpenAI(base_url=f"{url}/v1", api_key=first_run.api_key, max_retries=0).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Hello"}]
    )
    page.goto("/admin")
    playwright_api.expect(page.locator("[data-figure=requests]")).to_have_text(
        "1", timeout=EVENT_TIMEOUT_MS
    )
    # Weeks of generated traffic, and the marts built over it, for the analytics pages.
    world = create_world(db.admin, db.app)
    log = EventLog(db.admin, world)
    log.generate(days=60)
    log.write()
    assert analytics.build(db.admin, work_dir=tmp_path / "dbt").ok
    for path in ADMIN_PAGES:
        page.goto(path)
        page.screenshot(path=target / f"{path.strip('/').replace('/', '-')}.png", full_page=True)
    # The developer portal as one of the generated developers, who has sessions and cost.
    operator_call(
        db.admin,
        "select api.set_user_password(%s, %s, false)",
        (world.users["dev_n1"], hash_password(STRONG_PASSWORD)),
    )
    context.clear_cookies()
    sign_in(page, "dev_n1@example.com", STRONG_PASSWORD, "/portal")
    page.get_by_role("heading", name="Your keys").wait_for()
    for path in PORTAL_PAGES:
        page.goto(path)
        page.screenshot(path=target / f"{path.strip('/').replace('/', '-')}.png", full_page=True)
    context.close()
