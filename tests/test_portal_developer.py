"""The developer portal's usage and transformation pages over HTTP, on the generated event
log of tests/analytics_data.py with the marts built: each developer sees their own cost,
pull requests, score and achievements and nobody else's; the leaderboard choice is a
CSRF-protected form; before the first build the pages say how to build the marts."""

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import httpx
import psycopg
import pytest

from api import analytics
from api.app import create_app
from api.gateway.accounting import MemorySink
from api.gateway.config import load_config
from api.passwords import hash_password
from portals import score_charts
from portals.developer_analytics import ACHIEVEMENTS
from portals.web import _money
from tests.analytics_data import EventLog, create_world
from tests.helpers import STRONG_PASSWORD, create_user, operator_call, serving
from tests.test_portal import browser, csrf_of, sign_in_form

pytestmark = pytest.mark.timeout(300)

HOSTILE_PR = "<script>alert(1)</script>"
NOT_BUILT = "The analytics marts are not built yet: run <code>aigw analytics run</code>"


class Site:
    def __init__(self, db, world, url, work_dir):
        self.db, self.world, self.url, self.work_dir = db, world, url, work_dir

    def admin(self, query: str, params=()) -> list[tuple]:
        return operator_call(self.db.admin, query, params)

    @contextmanager
    def signed_in(self, persona: str) -> Iterator[httpx.Client]:
        with browser(self.url) as client:
            response = sign_in_form(client, f"{persona}@example.com", STRONG_PASSWORD)
            assert response.status_code == 303, response.text
            yield client

    def opt_in(self, persona: str) -> tuple[bool, bool]:
        """`persona`'s choice as api.leaderboard_opt_in() tells them."""
        with psycopg.connect(self.db.app) as conn, conn.transaction():
            principal = json.dumps(self.world.principal(persona))
            conn.execute("select set_config('app.principal', %s, true)", (principal,))
            return conn.execute(
                "select on_team_board, on_company_board from api.leaderboard_opt_in()"
            ).fetchone()


@pytest.fixture(scope="module")
def site(module_db, redis_server, tmp_path_factory) -> Site:
    world = create_world(module_db.admin, module_db.app)
    log = EventLog(module_db.admin, world)
    log.generate(days=20)
    # a hostile tag value, which every page must show as text
    yesterday = datetime.now(UTC) - timedelta(days=1)
    log.request(world.keys["dev_n1-key"], yesterday, tags={"pr": HOSTILE_PR})
    log.write()
    work_dir = tmp_path_factory.mktemp("dbt")
    result = analytics.build(module_db.admin, work_dir=work_dir)
    assert result.ok, "\n".join(result.output_tail[-40:])
    for persona in ("dev_n1", "dev_n1b", "dev_n2", "solo"):
        operator_call(
            module_db.admin,
            "select api.set_user_password(%s, %s, false)",
            (world.users[persona], hash_password(STRONG_PASSWORD)),
        )
    config = load_config(env={}, mock_provider_url="http://127.0.0.1:9")  # no model is called
    app = create_app(module_db.app, redis_server, gateway_config=config, events=MemorySink())
    with serving(app) as url:
        yield Site(module_db, world, url, work_dir)


def figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert match, f"no figure {name}"
    return match.group(1)


def test_a_developer_sees_their_own_cost_and_pull_requests_only(site):
    dev_n1 = site.world.users["dev_n1"]
    (requests, cost) = site.admin(
        "select count(*), sum(cost_usd) from events.requests where owner_user_id = %s",
        (dev_n1,),
    )[0]
    with site.signed_in("dev_n1") as client:
        page = client.get("/portal/usage")
    assert page.status_code == 200
    assert figure(page.text, "requests") == f"{requests:,}"
    assert figure(page.text, "cost") == _money(cost)
    # a pull request's cost, from the request tags
    pr, pr_cost = site.admin(
        "select tags->>'pr', sum(cost_usd) from events.requests "
        "where owner_user_id = %s and tags->>'pr' like 'acme/%%' group by 1 order by 1 limit 1",
        (dev_n1,),
    )[0]
    assert re.search(
        rf"<td>{re.escape(pr)}</td><td>[\d,]+</td><td>[\d,]+</td><td>{re.escape(_money(pr_cost))}</td>",
        page.text,
    )
    # dev_n1b is in the same team: their pull requests and cost are not dev_n1's to see
    assert "acme/dev_n1#" in page.text and "acme/dev_n1b#" not in page.text
    (other_cost,) = site.admin(
        "select sum(cost_usd) from events.requests where owner_user_id = %s",
        (site.world.users["dev_n1b"],),
    )[0]
    with site.signed_in("dev_n1b") as client:
        theirs = client.get("/portal/usage").text
    assert figure(theirs, "cost") == _money(other_cost) != _money(cost)
    assert "acme/dev_n1#" not in theirs


def test_a_team_admin_sees_their_own_figures_not_their_teams(site):
    """tadmin_n1 manages n1, whose developers spend, but spent nothing themselves."""
    operator_call(
        site.db.admin,
        "select api.set_user_password(%s, %s, false)",
        (site.world.users["tadmin_n1"], hash_password(STRONG_PASSWORD)),
    )
    ((team_cost,),) = site.admin(
        "select sum(cost_usd) from events.requests where team_id = %s", (site.world.teams["n1"],)
    )
    assert team_cost > 0
    with site.signed_in("tadmin_n1") as client:
        page = client.get("/portal/usage")
    assert page.status_code == 200
    assert figure(page.text, "requests") == "0"
    assert figure(page.text, "cost") == _money(None)  # nothing spent: no figure


def test_hostile_tag_values_are_escaped(site):
    with site.signed_in("dev_n1") as client:
        page = client.get("/portal/usage")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert HOSTILE_PR not in page.text


def test_the_transformation_page_draws_the_score_chart_and_badges(site):
    dev_n1 = site.world.users["dev_n1"]
    week, score = site.admin(
        "select week_start, agentic_score from analytics.weekly_transformation_by_developer "
        "where user_id = %s order by week_start desc limit 1",
        (dev_n1,),
    )[0]
    with site.signed_in("dev_n1") as client:
        page = client.get("/portal/transformation")
    assert page.status_code == 200
    html = page.text
    assert figure(html, "score") == str(score)
    assert f'stroke-dasharray="{score_charts.ring(score).dash}"' in html
    assert f'<title id="ring-title-1">Agentic score {score} of 100, week of {week}</title>' in html
    # twelve weeks of bars, each week's figures as text too
    assert (
        html.count('<rect class="bar-agent"') == html.count('<rect class="bar-interactive"') == 12
    )
    weekly = site.admin(
        "select week_start, agentic_session_count + autonomous_session_count, "
        "interactive_session_count from analytics.weekly_transformation_by_developer "
        "where user_id = %s",
        (dev_n1,),
    )
    for start, agent, interactive in weekly:
        assert f"<tr><td>{start}</td><td>{agent}</td><td>{interactive}</td></tr>" in html
    # every known achievement, earned ones with their date
    earned = dict(
        site.admin(
            "select achievement, earned_at from analytics.achievements where user_id = %s",
            (dev_n1,),
        )
    )
    assert earned  # dev_n1 works with agents: at least their first agentic session
    for name, *_ in ACHIEVEMENTS:
        match = re.search(
            rf'<li class="badge (\w+)" data-achievement="{name}">.*?'
            r'<span class="badge-state">([^<]*)</span>',
            html,
            re.S,
        )
        assert match, name
        if name in earned:
            assert match.groups() == ("earned", f"Earned {earned[name]:%Y-%m-%d}")
        else:
            assert match.groups() == ("unearned", "Not earned yet")
    assert "<script" not in html.replace('<script src="/assets/', "")


def test_a_developer_opts_in_and_then_appears_on_the_leaderboards(site):
    # solo never opted in: on no board, and the form says so
    assert site.opt_in("solo") == (False, False)
    with site.signed_in("solo") as client:
        page = client.get("/portal/transformation")
        assert "solo (you)" not in page.text
        assert 'id="company_board" name="company_board" value="on">' in page.text
        posted = client.post(
            "/portal/leaderboard",
            data={"csrf": csrf_of(page.text), "team_board": "on", "company_board": "on"},
        )
        assert posted.status_code == 303
        assert posted.headers["location"] == "/portal/transformation"
        assert site.opt_in("solo") == (True, True)
        # the boards are part of the marts: the next refresh puts solo on them
        rebuilt = analytics.build(site.db.admin, select="leaderboard", work_dir=site.work_dir)
        assert rebuilt.ok, "\n".join(rebuilt.output_tail[-40:])
        page = client.get("/portal/transformation")
    assert "Saved: you appear on your teams&#39; boards and the company board" in page.text
    assert 'id="company_board" name="company_board" value="on" checked>' in page.text
    boards = page.text.split('<h3 id="board-')
    assert len(boards) == 3  # the company board, and team solo's
    assert boards[1].startswith('1">Company') and boards[2].startswith('2">Team solo')
    for board in boards[1:]:
        assert re.search(
            r'<tr class="me" aria-current="true"><td>\d+</td><td><strong>solo \(you\)</strong>',
            board,
        )


def test_a_forged_or_stale_leaderboard_post_changes_nothing(site):
    before = site.opt_in("dev_n2")
    assert before == (False, False)
    with site.signed_in("dev_n2") as client:
        token = csrf_of(client.get("/portal/transformation").text)
        form = {"team_board": "on", "company_board": "on"}
        stale = client.post("/portal/leaderboard", data={**form, "csrf": token[:-2] + "xx"})
        assert stale.status_code == 403 and "security token" in stale.text
        missing = client.post("/portal/leaderboard", data=form)
        assert missing.status_code == 403
        elsewhere = client.post(
            "/portal/leaderboard",
            data={**form, "csrf": token},
            headers={"Origin": "https://evil.example"},
        )
        assert elsewhere.status_code == 403
    assert site.opt_in("dev_n2") == before


def test_before_the_marts_are_built_the_pages_say_how_to_build_them(gateway):
    create_user(gateway.db.admin, "early@example.com", roles=(("developer", None),), teams=("t1",))
    with browser(gateway.url) as client:
        assert sign_in_form(client, "early@example.com", STRONG_PASSWORD).status_code == 303
        for path in ("/portal/usage", "/portal/transformation"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert NOT_BUILT in page.text, path
        # the leaderboard choice needs no mart: it is there already
        assert 'action="/portal/leaderboard"' in page.text


def test_the_ring_and_the_weekly_chart_are_drawn_to_scale():
    full = score_charts.ring(100)
    assert full.dash == f"{full.circumference:.2f} {full.circumference:.2f}"
    assert score_charts.ring(None).dash.startswith("0.00 ")
    assert score_charts.ring(250).score == 100 and score_charts.ring(-3).score == 0
    assert score_charts.ring(25).dash == f"{full.circumference / 4:.2f} {full.circumference:.2f}"
    wednesday = date(2026, 12, 2)
    weeks = score_charts.week_starts(wednesday, 3)
    assert weeks == [date(2026, 11, 16), date(2026, 11, 23), date(2026, 11, 30)]
    chart = score_charts.weekly_chart({date(2026, 11, 16): (7, 3)}, wednesday, 3)
    assert chart.axis_max == 10  # 7 rounded up to 1, 2 or 5 times a power of ten
    first, second, _ = chart.weeks
    plot = chart.baseline - chart.top
    assert (first.agent_height, first.interactive_height) == pytest.approx((plot * 0.7, plot * 0.3))
    assert (second.agent_driven, second.interactive, second.agent_height) == (0, 0, 0)
    # evenly spaced, inside the drawing, the two bars of a week side by side
    assert second.x - first.x == pytest.approx(chart.weeks[2].x - second.x)
    assert first.agent_x + first.bar_width < first.interactive_x
    assert chart.weeks[2].interactive_x + chart.weeks[2].bar_width <= chart.width
