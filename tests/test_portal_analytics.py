"""The admin portal's analytics pages over HTTP, on marts built by dbt over a generated
event log: Insights (/admin/insights) and AI Transformation (/admin/transformation), each
as the personas that may read them, with the figures checked against the event log."""

from contextlib import contextmanager

import pytest

from api import analytics
from api.app import create_app
from api.gateway.accounting import MemorySink
from api.gateway.config import load_config
from api.passwords import hash_password
from tests.analytics_data import EventLog, create_world
from tests.helpers import STRONG_PASSWORD, operator_call, serving
from tests.test_portal import browser, csrf_of, parse, sign_in_form

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def site(module_db, redis_server, tmp_path_factory):
    world = create_world(module_db.admin, module_db.app)
    log = EventLog(module_db.admin, world)
    log.generate(days=20)
    log.write()
    for user_id in world.users.values():  # the generated people sign in as well
        operator_call(
            module_db.admin,
            "select api.set_user_password(%s, %s, false)",
            (user_id, hash_password(STRONG_PASSWORD)),
        )
    result = analytics.build(module_db.admin, work_dir=tmp_path_factory.mktemp("dbt"))
    assert result.ok, "\n".join(result.output_tail[-40:])
    config = load_config(env={}, mock_provider_url="http://127.0.0.1:9")  # no model is called
    app = create_app(module_db.app, redis_server, gateway_config=config, events=MemorySink())
    with serving(app) as url:
        yield url, module_db, world


@contextmanager
def signed_in(url: str, persona: str):
    with browser(url) as client:
        assert sign_in_form(client, f"{persona}@example.com", STRONG_PASSWORD).status_code == 303
        yield client


def money(value) -> str:
    return f"${float(value):,.4f}"


def test_insights_show_the_admin_the_cost_of_the_whole_log(site):
    url, db, _ = site
    ((requests, cost),) = operator_call(
        db.admin,
        "select count(*), sum(cost_usd) from events.requests "
        "where started_at >= (now() at time zone 'UTC')::date - 29",
    )
    with signed_in(url, "admin") as client:
        page = client.get("/admin/insights?period=30d")
    assert page.status_code == 200
    assert f'data-figure="requests">{requests:,}<' in page.text
    assert f'data-figure="cost">{money(cost)}<' in page.text
    # the teams by name, the chart drawn on the server with its figures as text
    for team in ("n1", "n2", "s1", "solo"):
        assert f"<td>{team}</td>" in page.text
    assert "<svg" in page.text and "<rect" in page.text and "cost $" in page.text


def test_a_team_admin_gets_insights_of_their_team_only(site):
    url, db, world = site
    ((cost,),) = operator_call(
        db.admin,
        "select sum(cost_usd) from events.requests where team_id = %s "
        "and started_at >= (now() at time zone 'UTC')::date - 29",
        (world.teams["n1"],),
    )
    with signed_in(url, "tadmin_n1") as client:
        page = client.get("/admin/insights?period=30d&by=team")
    assert page.status_code == 200
    assert f'data-figure="cost">{money(cost)}<' in page.text
    assert "<td>n1</td>" in page.text
    assert "<td>n2</td>" not in page.text and "<td>s1</td>" not in page.text


@pytest.mark.parametrize("by", ["model", "user", "key", "tag", "area"])
def test_insights_group_by_every_dimension(site, by):
    url, db, _ = site
    with signed_in(url, "admin") as client:
        page = client.get(f"/admin/insights?period=90d&by={by}")
    assert page.status_code == 200
    assert f'<option value="{by}" selected>' in page.text
    table = page.text.split('id="by-title"', 1)[1].split("</table>", 1)[0]
    if by == "model":
        assert "<td>claude-sonnet-4-6</td>" in table
    elif by == "user":
        assert "<td>dev_n1@example.com</td>" in table  # an id shown as the person
    elif by == "area":
        assert "<td>north</td>" in table and "<td>south</td>" in table
    elif by == "key":
        assert "dev_n1-key (" in table
    else:
        ((tags,),) = operator_call(
            db.admin, "select count(*) from events.requests where tags <> '{}'"
        )
        assert tags > 0 and "=" in table


def test_insights_refuse_nothing_and_fall_back_on_unknown_choices(site):
    url, _, _ = site
    with signed_in(url, "admin") as client:
        page = client.get("/admin/insights?period=<script>&by=password_hash&page=-1")
    assert page.status_code == 200
    assert '<option value="team" selected>' in page.text and "<script>" not in page.text


def test_transformation_shows_adoption_teams_and_laggards(site):
    url, db, _ = site
    ((laggards,),) = operator_call(
        db.admin,
        "select coalesce(array_agg(t.name order by t.name), '{}') "
        "from analytics.team_agentic_laggards l join iam.teams t on t.id = l.team_id "
        "where l.is_laggard",
    )
    with signed_in(url, "admin") as client:
        page = client.get("/admin/transformation")
    assert page.status_code == 200
    assert "Sessions per week" in page.text and "<rect" in page.text
    rows = page.text.split("Teams, last four weeks", 1)[1].split("</table>", 1)[0]
    for team in ("n1", "n2", "s1", "solo"):
        assert f">{team}</a>" in rows
    assert rows.count("Laggard</span>") == len(laggards)
    assert "<meter" in rows  # the agentic share as a bar, readable as text too


def test_a_team_drill_down_lists_its_developers_with_their_scores(site):
    url, db, world = site
    scores = dict(
        operator_call(
            db.admin,
            "select u.email, d.agentic_score from analytics.weekly_transformation_by_developer d "
            "join iam.users u on u.id = d.user_id where d.team_id = %s "
            "and d.week_start = (select max(week_start) "
            "from analytics.weekly_transformation_by_developer where team_id = %s "
            "and user_id = d.user_id) "
            "and d.week_start >= (now() at time zone 'UTC')::date - 28",
            (world.teams["n1"], world.teams["n1"]),
        )
    )
    assert scores
    with signed_in(url, "tadmin_n1") as client:
        page = client.get("/admin/transformation?team=n1")
        hidden = client.get("/admin/transformation?team=s1")
    assert page.status_code == 200
    developers = page.text.split('id="developers"', 1)[1].split("</table>", 1)[0]
    for email, score in scores.items():
        assert f"<td>{email}</td>" in developers and f"<td>{score}</td>" in developers
    assert "dev_s1@example.com" not in page.text
    # another team's developers are not shown to a team admin: as if it did not exist
    assert hidden.status_code == 404 and "no team s1" in hidden.text
    assert "dev_s1@example.com" not in hidden.text


def test_only_a_platform_admin_sees_and_may_use_the_classify_button(site):
    url, db, _ = site
    with signed_in(url, "tadmin_n1") as client:
        page = client.get("/admin/transformation")
        assert "Classify sessions" not in page.text
        token = csrf_of(page.text)
        refused = client.post("/admin/transformation/classify", data={"csrf": token})
    assert refused.status_code == 403
    assert "Only platform admins run the classification" in refused.text


def test_a_platform_admin_classifies_from_the_page(site):
    url, db, _ = site
    with signed_in(url, "admin") as client:
        page = client.get("/admin/transformation")
        form = next(f for f in parse(page.text).forms if f["action"].endswith("/classify"))
        forged = client.post("/admin/transformation/classify", data={"csrf": "stale"})
        assert forged.status_code == 403
        done = client.post("/admin/transformation/classify", data=form["fields"])
        assert done.status_code == 303
        shown = client.get(done.headers["location"])
    assert "Sessions classified in" in shown.text


def test_before_the_marts_are_built_the_pages_say_how_to_build_them(gateway):
    from tests.helpers import create_user

    create_user(gateway.db.admin, "early@example.com", roles=(("platform_admin", None),))
    client = browser(gateway.url)
    sign_in_form(client, "early@example.com", STRONG_PASSWORD)
    for path in ("/admin/insights", "/admin/transformation"):
        page = client.get(path)
        assert page.status_code == 200
        assert "aigw analytics run" in page.text
    client.close()


def test_a_page_answers_head_without_a_body(site):
    url, _, _ = site
    with signed_in(url, "admin") as client:
        response = client.head("/admin/insights")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "query",
    [
        "team=%00",
        "team=" + "x" * 5000,
        "team=%ED%A0%80",
        "team=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "team=n1'%20or%20'1'='1",
        "page=99999999999999999999",
        "period=%00&by=%00",
    ],
)
def test_hostile_query_values_get_a_page_never_a_server_error(site, query):
    url, _, _ = site
    with signed_in(url, "admin") as client:
        for path in ("/admin/transformation", "/admin/insights"):
            page = client.get(f"{path}?{query}")
            assert page.status_code in (200, 404, 422), (path, query, page.status_code)
            assert "<script>alert(1)</script>" not in page.text
