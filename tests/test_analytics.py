"""The analytics marts: `dbt build` as aigw_dbt over a generated event log, then what the
marts say checked against the raw events, read through the api.* readers by each persona.

One build per module (the fixture `built`); the last tests add a late event and build
again incrementally.
"""

import json
import os
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import psycopg
import pytest

from api import analytics
from api.app import create_app
from api.gateway.accounting import MemorySink
from api.gateway.config import load_config
from jobs.analytics_refresh import AnalyticsRefresher
from tests.analytics_data import AGENTIC, AUTONOMOUS, CHAT, EventLog, World, create_world
from tests.helpers import AIGW, aigw, create_user, operator_call, serving, sign_in

pytestmark = pytest.mark.timeout(300)


class Built:
    def __init__(self, db, world: World, result: analytics.BuildResult, work_dir):
        self.db, self.world, self.result, self.work_dir = db, world, result, work_dir

    def admin(self, query: str, params=()) -> list[tuple]:
        return operator_call(self.db.admin, query, params)

    def as_persona(self, persona: str, query: str, params=()) -> list[tuple]:
        """A query through the services' login, with `persona` as the principal."""
        with psycopg.connect(self.db.app) as conn, conn.transaction():
            conn.execute(
                "select set_config('app.principal', %s, true)",
                (json.dumps(self.world.principal(persona)),),
            )
            return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def built(module_db, tmp_path_factory) -> Built:
    world = create_world(module_db.admin, module_db.app)
    log = EventLog(module_db.admin, world)
    log.generate(days=20)
    log.write()
    work_dir = tmp_path_factory.mktemp("dbt")
    result = analytics.build(module_db.admin, work_dir=work_dir)
    assert result.ok, "\n".join(result.output_tail[-40:])  # nothing below means anything else
    return Built(module_db, world, result, work_dir)


def test_dbt_build_is_green_over_the_generated_log(built):
    result = built.result
    assert result.ok, "\n".join(result.output_tail[-40:])
    counts = result.counts()
    assert counts.get("error", 0) == counts.get("fail", 0) == 0
    unit_tests = [n for n in result.nodes if n.resource_type == "unit_test"]
    assert len(unit_tests) >= 6 and all(n.status == "pass" for n in unit_tests)
    built_models = {n.name for n in result.nodes if n.resource_type == "model"}
    assert {"daily_cost", "sessions", "leaderboard", "achievements", "dim_teams"} <= built_models
    print(f"dbt build: {result.elapsed_s:.1f}s, {counts}")


def test_the_cost_marts_add_up_to_the_event_log(built):
    (raw,) = built.admin(
        "select count(*), sum(cost_usd), sum(input_tokens), sum(output_tokens), "
        "sum(saved_usd) from events.requests"
    )
    assert raw[0] > 500
    totals = (
        "sum(request_count), sum(cost_usd), sum(input_tokens), sum(output_tokens), sum(saved_usd)"
    )
    for mart in (
        "daily_cost",
        "daily_cost_by_team",
        "daily_cost_by_area",
        "daily_cost_by_model",
        "daily_cost_by_key",
        "daily_cost_by_user",
    ):
        assert built.admin(f"select {totals} from analytics.{mart}")[0] == raw, mart
    # per team and UTC day too, not only in total
    per_day = (
        "select (started_at at time zone 'UTC')::date, team_id, count(*), sum(cost_usd) "
        "from events.requests group by 1, 2 order by 1, 2"
    )
    assert built.admin(
        "select usage_day, team_id, request_count, cost_usd from analytics.daily_cost_by_team "
        "order by 1, 2"
    ) == built.admin(per_day)


def test_cost_per_tag_counts_each_tagged_request_under_each_of_its_tags(built):
    expected = built.admin(
        "select t.key, t.value, count(*), sum(r.cost_usd) from events.requests r, "
        "jsonb_each_text(r.tags) t group by 1, 2 order by 1, 2"
    )
    assert len(expected) > 5
    assert (
        built.admin(
            "select tag_key, tag_value, sum(request_count), sum(cost_usd) "
            "from analytics.daily_cost_by_tag group by 1, 2 order by 1, 2"
        )
        == expected
    )


def test_every_labelled_session_gets_its_class(built):
    sessions = built.admin(
        "select session_id, key_id::text, started_at, request_count, session_class "
        "from analytics.sessions"
    )
    by_id = {sid: row for sid, *row in sessions if sid is not None}
    by_key_start = {(key, start): row for sid, key, start, *row in sessions if sid is None}
    labels = built.world.sessions
    assert {s.label for s in labels} == {CHAT, AGENTIC, AUTONOMOUS}
    # no session was split or merged with another
    assert len(sessions) == len(labels)
    wrong = []
    for s in labels:
        if s.session_id:
            _, _, count, got = by_id[s.session_id]
        else:  # grouped by key and idle gap
            count, got = by_key_start[(s.key_id, s.started_at)]
        assert count == len(s.request_ids)
        if got != s.label:
            wrong.append((s.label, got, s.session_id or s.key_id))
    assert wrong == []


# -- who sees what -------------------------------------------------------------------------

PERSONAS = ("admin", "owner_north", "tadmin_n1", "dev_n1", "dev_s1", "solo", "viewer_n1")


# The filter on raw rows a persona's view of the marts must equal: (teams, user), where
# teams None means every team and a row is visible by its team or by its user.
VISIBLE_FILTER = (
    "(%(teams)s::uuid[] is null or team_id = any(%(teams)s::uuid[]) or {user} = %(user)s)"
)


def visible(built: Built, persona: str) -> dict:
    w = built.world
    teams = {
        "admin": None,
        "owner_north": [w.teams["n1"], w.teams["n2"]],
        "tadmin_n1": [w.teams["n1"]],
    }.get(persona, [])
    user = None if persona in ("admin", "owner_north", "tadmin_n1") else w.users[persona]
    return {"teams": teams, "user": user}


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_sees_exactly_its_cost(built, persona):
    expected = built.admin(
        "select team_id, owner_user_id, count(*), sum(cost_usd) from events.requests where "
        + VISIBLE_FILTER.format(user="owner_user_id")
        + " group by 1, 2 order by 1, 2 nulls first",
        visible(built, persona),
    )
    got = built.as_persona(
        persona,
        "select team_id, user_id, sum(request_count), sum(cost_usd) "
        "from api.analytics_daily_cost(current_date - 60, current_date) "
        "group by 1, 2 order by 1, 2 nulls first",
    )
    assert got == expected
    if persona == "viewer_n1":
        assert got == []
    if persona.startswith("dev_") or persona == "solo":
        # a developer's cost per model is their own rows, not their team's
        assert {u for _, u, *_ in got} == {uuid.UUID(built.world.users[persona])}


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_sees_exactly_its_cost_per_tag(built, persona):
    expected = built.admin(
        "select t.key || '=' || t.value, count(*), sum(r.cost_usd) "
        "from events.requests r, jsonb_each_text(r.tags) t where "
        + VISIBLE_FILTER.format(user="owner_user_id")
        + " group by 1 order by 1",
        visible(built, persona),
    )
    got = built.as_persona(
        persona,
        "select dimension_value, sum(request_count), sum(cost_usd) "
        "from api.analytics_cost_by('tag', current_date - 60, current_date) "
        "group by 1 order by 1",
    )
    assert got == expected
    if persona.startswith("dev_") or persona == "solo":
        # a developer sees the cost of their own pull requests, and no one else's
        prs = {tag for tag, *_ in got if tag.startswith("pr=")}
        assert prs and all(tag.startswith(f"pr=acme/{persona}#") for tag in prs)


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_sees_exactly_its_sessions_and_scores(built, persona):
    w = built.world
    expected_sessions = built.admin(
        "select count(*) from analytics.sessions where " + VISIBLE_FILTER.format(user="user_id"),
        visible(built, persona),
    )[0][0]
    got_sessions = built.as_persona(
        persona, "select count(*) from api.analytics_sessions(now() - interval '60 days', 10000)"
    )[0][0]
    assert got_sessions == expected_sessions
    developers = {
        str(u)
        for (u,) in built.as_persona(
            persona, "select distinct user_id from api.analytics_weekly_transformation('developer')"
        )
    }
    everyone = {w.users[p] for p in ("dev_n1", "dev_n1b", "dev_n2", "dev_s1", "dev_s1b", "solo")}
    expected = {
        "admin": everyone,
        "owner_north": {w.users[p] for p in ("dev_n1", "dev_n1b", "dev_n2")},
        "tadmin_n1": {w.users[p] for p in ("dev_n1", "dev_n1b")},
        "viewer_n1": set(),
    }.get(persona, {w.users.get(persona)})
    assert developers == expected
    # team aggregates are for the team's managers only
    teams = {
        str(t)
        for (t,) in built.as_persona(
            persona, "select distinct team_id from api.analytics_weekly_transformation('team')"
        )
    }
    expected_teams = {
        "admin": set(w.teams.values()),
        "owner_north": {w.teams["n1"], w.teams["n2"]},
        "tadmin_n1": {w.teams["n1"]},
    }.get(persona, set())
    assert teams == expected_teams


def test_cost_by_area_is_for_area_owners_and_platform_admins(built):
    north = built.world.areas["north"]
    assert {
        r[0]
        for r in built.as_persona(
            "owner_north", "select dimension_value from api.analytics_cost_by('area')"
        )
    } == {north}
    assert built.as_persona("tadmin_n1", "select * from api.analytics_cost_by('area')") == []
    assert built.as_persona("dev_n1", "select * from api.analytics_cost_by('model')") == []
    with pytest.raises(psycopg.Error) as error:
        built.as_persona("admin", "select * from api.analytics_cost_by('planet')")
    assert error.value.sqlstate == "AIG06"


def test_an_anonymous_caller_reads_nothing(built):
    with psycopg.connect(built.db.app) as conn, pytest.raises(psycopg.Error) as error:
        conn.execute("select * from api.analytics_daily_cost()")
    assert error.value.sqlstate == "AIG01"


# -- what the dbt role and the services may not do ----------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "select password_hash from iam.user_credentials",
        "select digest from iam.api_keys",
        "select * from iam.api_keys",
        "select token_digest from iam.sessions",
        "select token_digest from iam.invitations",
        "select state_digest from iam.sso_used_states",
        "select email from iam.users",
        "select * from events.queue",
        "insert into events.hooks (key_id, session_id, hook_event_name) "
        "values (gen_random_uuid(), 'x', 'Stop')",
        "create table iam.stolen (x int)",
        "select api.whoami()",
    ],
)
def test_the_dbt_role_cannot_read_secrets_or_write_outside_analytics(built, query):
    with (
        psycopg.connect(analytics.dbt_login_url(built.db.admin)) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(query)


def test_the_dbt_role_reads_what_it_needs(built):
    with psycopg.connect(analytics.dbt_login_url(built.db.admin)) as conn:
        assert conn.execute("select count(*) from events.requests").fetchone()[0] > 500
        assert conn.execute("select count(prefix) from iam.api_keys").fetchone()[0] > 0


def test_the_services_cannot_read_the_marts_directly(built):
    with psycopg.connect(built.db.app) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select * from analytics.daily_cost")


# -- leaderboards: opt-in only ---------------------------------------------------------------


def test_who_never_opted_in_never_appears_on_a_leaderboard(built):
    w = built.world
    solo, solo_team = w.users["solo"], w.teams["solo"]
    # solo is the busiest agent user and the only member of team solo
    assert (
        built.admin(
            "select count(*) from analytics.sessions where user_id = %s and is_agent_driven",
            (solo,),
        )[0][0]
        >= 10
    )
    assert built.as_persona("solo", "select * from api.leaderboard_opt_in()") == [
        (False, False, None)
    ]
    # not in the mart at all: no row names them or their team
    assert built.admin(
        "select count(*) from analytics.leaderboard where user_id = %s or team_id = %s",
        (solo, solo_team),
    ) == [(0,)]
    # dev_n2 chose "no" to both boards
    assert built.admin(
        "select count(*) from analytics.leaderboard where user_id = %s", (w.users["dev_n2"],)
    ) == [(0,)]
    assert built.as_persona("solo", "select * from api.leaderboard('team', 'solo')") == []
    for persona in ("solo", "dev_n1", "admin"):
        names = {
            r[2] for r in built.as_persona(persona, "select * from api.leaderboard('company')")
        }
        assert "solo" not in names and "dev_n2" not in names and "dev_n1b" not in names
    # every row of every board is someone who opted in to that board
    assert built.admin(
        "select count(*) from analytics.leaderboard l join league.leaderboard_opt_ins o "
        "using (user_id) where not (case l.board when 'team' then o.on_team_board "
        "else o.on_company_board end)"
    ) == [(0,)]


def test_opting_out_takes_effect_at_once_and_leaves_no_gap_in_the_ranks(built):
    week = built.admin("select max(week_start) from analytics.leaderboard where board = 'company'")[
        0
    ][0]
    board = built.as_persona(
        "dev_s1", "select rank, display_name from api.leaderboard('company', null, %s)", (week,)
    )
    assert "dev_n1" in {name for _, name in board}
    with psycopg.connect(built.db.app) as conn, conn.transaction():
        conn.execute(
            "select set_config('app.principal', %s, true)",
            (json.dumps(built.world.principal("dev_n1")),),
        )
        assert conn.execute(
            "select on_team_board, on_company_board from api.set_leaderboard_opt_in(false, false)"
        ).fetchone() == (False, False)
        after = conn.execute(
            "select rank, display_name from api.leaderboard('company', null, %s)", (week,)
        ).fetchall()
        raise psycopg.Rollback()  # the choice is not kept
    assert "dev_n1" not in {name for _, name in after}
    ranks = sorted(rank for rank, _ in after)
    assert ranks[0] == 1 and all(b - a <= 1 for a, b in zip(ranks, ranks[1:], strict=False))


def test_a_team_board_is_for_the_team(built):
    with pytest.raises(psycopg.Error) as error:
        built.as_persona("dev_s1", "select * from api.leaderboard('team', 'n1')")
    assert error.value.sqlstate == "AIG04"
    names = {
        r[2]
        for r in built.as_persona("dev_n1", "select * from api.leaderboard('team', 'n1', null)")
    }
    assert names and names <= {"dev_n1", "dev_n1b"}


# -- laggards ----------------------------------------------------------------------------------


def test_a_team_far_below_the_organisation_is_a_laggard(built):
    w = built.world
    laggards = {
        str(team): is_laggard
        for team, *_, is_laggard in built.as_persona(
            "admin", "select * from api.analytics_laggards()"
        )
    }
    assert laggards[w.teams["n2"]] is True  # mostly chatting
    assert laggards[w.teams["n1"]] is False and laggards[w.teams["solo"]] is False
    assert {
        str(t) for t, *_ in built.as_persona("tadmin_n1", "select * from api.analytics_laggards()")
    } == {w.teams["n1"]}


# -- the classify endpoint ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin_api(built, redis_server):
    create_user(built.db.admin, "classify-admin@example.com", roles=(("platform_admin", None),))
    create_user(
        built.db.admin, "classify-dev@example.com", roles=(("developer", None),), teams=("n1",)
    )
    create_user(built.db.admin, "classify-tadmin@example.com", roles=(("team_admin", "n1"),))
    config = load_config(env={}, mock_provider_url="http://127.0.0.1:9")  # no model is called
    app = create_app(built.db.app, redis_server, gateway_config=config, events=MemorySink())
    with serving(app) as url:
        yield url


@pytest.mark.parametrize("email", ["classify-dev@example.com", "classify-tadmin@example.com"])
def test_only_a_platform_admin_may_classify(built, admin_api, email):
    response = httpx.post(
        f"{admin_api}/admin/transformation/classify", headers=sign_in(admin_api, email)
    )
    assert response.status_code == 403
    assert (
        response.json()["error"]["type"]
        and "platform admins" in response.json()["error"]["message"]
    )
    anonymous = httpx.post(f"{admin_api}/admin/transformation/classify")
    assert anonymous.status_code == 401


def test_classify_answers_409_while_another_build_runs(built, admin_api):
    headers = sign_in(admin_api, "classify-admin@example.com")
    with psycopg.connect(analytics.dbt_login_url(built.db.admin), autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (analytics.BUILD_LOCK,))
        response = httpx.post(f"{admin_api}/admin/transformation/classify", headers=headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "build_running"


def test_a_failing_refresh_is_logged_and_retried_never_raised(built, caplog):
    unreachable = psycopg.conninfo.make_conninfo(built.db.admin, dbname="no_such_database")
    refresher = AnalyticsRefresher(unreachable, interval_s=300)
    refresher.run_once()
    assert refresher.runs == 1 and "no_such_database" in refresher.last_error
    assert "analytics refresh failed" in caplog.text


def test_the_cli_explains_itself_and_bad_input():
    help_text = subprocess.run(
        [*AIGW, "analytics", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    assert "dbt build" in help_text and "--full-refresh" in help_text
    bad = subprocess.run(
        [*AIGW, "analytics", "run", "--var", "lookback_days"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert bad.returncode == 1 and "is not NAME=VALUE" in bad.stderr


def test_aigw_analytics_run_builds_what_it_is_asked_to(built):
    done = aigw(built.db, "analytics", "run", "--select", "dim_areas")
    assert done.returncode == 0, done.stderr
    assert "1 models built" in done.stdout and "tests passed" in done.stdout


def test_a_platform_admin_classifies_on_demand(built, admin_api):
    headers = sign_in(admin_api, "classify-admin@example.com")
    response = httpx.post(
        f"{admin_api}/admin/transformation/classify", headers=headers, timeout=120
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert {"sessions", "weekly_transformation_by_developer", "leaderboard", "achievements"} <= set(
        report["models"]
    )
    assert "daily_cost" not in report["models"]  # only what classification touches
    labels = [s.label for s in built.world.sessions]
    assert report["sessions"] == {c: labels.count(c) for c in (CHAT, AGENTIC, AUTONOMOUS)}


# -- the next, incremental build ----------------------------------------------------------------


def test_a_late_event_lands_in_its_day_and_achievements_are_awarded_once(built):
    w = built.world
    achievements = built.admin(
        "select achievement_id, earned_at, awarded_at from analytics.achievements order by 1"
    )
    assert {
        a for (a,) in built.admin("select distinct achievement from analytics.achievements")
    } >= {
        "first_agentic_session",
        "first_autonomous_session",
        "agentic_streak",
        "half_agentic_week",
    }
    old_day = built.admin("select min(usage_day) from analytics.daily_cost")[0][0]
    old_refresh = built.admin(
        "select max(refreshed_at) from analytics.daily_cost where usage_day = %s", (old_day,)
    )[0][0]
    # an event of two days ago that arrives only now (the spool replaying after an outage)
    late_at = (datetime.now(UTC) - timedelta(days=2)).replace(hour=12, minute=0)
    log = EventLog(built.db.admin, w, seed=99)
    log.request(w.keys["dev_n1-key"], late_at, model="claude-sonnet-4-6")
    late = log.requests[0]
    late["recorded_at"] = datetime.now(UTC)
    log.write()
    team_day = "select sum(request_count), sum(cost_usd) from analytics.daily_cost_by_team where usage_day = %s and team_id = %s"
    before = built.admin(team_day, (late_at.date(), w.teams["n1"]))[0]

    # the next round of `aigw up`'s background refresh
    refresher = AnalyticsRefresher(built.db.admin, interval_s=300)
    refresher.run_once()
    result = refresher.last_result
    assert result is not None and result.ok, "\n".join(result.output_tail[-40:])
    assert refresher.last_error is None

    after = built.admin(team_day, (late_at.date(), w.teams["n1"]))[0]
    assert after[0] == (before[0] or 0) + 1
    assert after[1] == (before[1] or Decimal(0)) + late["cost_usd"]
    (raw,) = built.admin("select count(*), sum(cost_usd) from events.requests")
    assert (
        built.admin("select sum(request_count), sum(cost_usd) from analytics.daily_cost")[0] == raw
    )
    # incremental: a day outside the lookback window was not rebuilt
    assert (
        built.admin(
            "select max(refreshed_at) from analytics.daily_cost where usage_day = %s", (old_day,)
        )[0][0]
        == old_refresh
    )
    # the second build awarded nothing twice and changed no award
    assert (
        built.admin(
            "select achievement_id, earned_at, awarded_at from analytics.achievements order by 1"
        )
        == achievements
    )


def test_before_the_first_build_the_readers_say_how_to_build(db):
    with psycopg.connect(db.admin) as conn, pytest.raises(psycopg.Error) as error:
        conn.execute("select * from api.analytics_daily_cost()")
    assert error.value.sqlstate == "AIG04"
    assert error.value.diag.message_hint == "Build them with: aigw analytics run"


SESSION_COLUMNS = (
    "session_id_hash, session_key, session_id, key_id, team_id, user_id, service_account_id, "
    "started_at, ended_at, usage_day, week_start, request_count, human_prompt_count, "
    "tool_result_turn_count, tool_call_count, max_tools_offered, tool_result_share, "
    "calls_per_prompt, median_gap_seconds, permission_mode, is_hook_reported, "
    "is_permission_bypassed, is_agent_driven, is_unattended, session_class, main_model, "
    "client, cost_usd, input_tokens, output_tokens"
)


def test_incremental_sessions_equal_a_full_refresh(built):
    """Sessions that new and late requests continue, join or start, built incrementally
    (only the sessions that may have changed), are those a full rebuild finds."""
    w = built.world
    sessions = f"select {SESSION_COLUMNS} from analytics.sessions order by session_key"
    # the newest unnamed session and the newest named one, both within the lookback window
    key, ended = built.admin(
        "select key_id::text, ended_at from analytics.sessions where session_id is null "
        "order by ended_at desc limit 1"
    )[0]
    named_key, named_id, named_end = built.admin(
        "select key_id::text, session_id, ended_at from analytics.sessions "
        "where session_id is not null and is_hook_reported order by ended_at desc limit 1"
    )[0]
    log = EventLog(built.db.admin, w, seed=123)
    # continues the unnamed session (within the idle gap); another, 40 minutes on, starts
    # its own; a request and a hook continue the named one; a new chat elsewhere
    log.request(key, ended + timedelta(minutes=10), client="openai-python")
    log.request(key, ended + timedelta(minutes=50), client="openai-python")
    log.request(named_key, named_end + timedelta(minutes=3), session_id=named_id,
                tool_result=True, tool_calls=1)  # fmt: skip
    log.hook(named_key, named_id, named_end + timedelta(minutes=4), "UserPromptSubmit")
    log.chat(w.keys["dev_s1-key"], datetime.now(UTC) - timedelta(minutes=90))
    log.write()
    first = analytics.build(built.db.admin, work_dir=built.work_dir)
    assert first.ok, "\n".join(first.output_tail[-40:])
    (count,) = built.admin(
        "select request_count from analytics.sessions where session_id is null "
        "and key_id = %s and ended_at = %s",
        (key, ended + timedelta(minutes=10)),
    )[0]
    assert count >= 2  # the continued session, under its old key
    later = "select 1 from analytics.sessions where key_id = %s and started_at = %s"
    assert built.admin(later, (key, ended + timedelta(minutes=50)))
    # a late request between the two joins them: the later one's row goes
    log.request(key, ended + timedelta(minutes=30), client="openai-python")
    log.write()
    second = analytics.build(built.db.admin, work_dir=built.work_dir)
    assert second.ok, "\n".join(second.output_tail[-40:])
    assert not built.admin(later, (key, ended + timedelta(minutes=50)))
    incremental = built.admin(sessions)
    # the incremental build checked only the log's recent rows (macros/test_window.sql)
    assert "where started_at >= (now()" in _compiled_test(built, "unique_stg_events__requests")

    full = analytics.build(built.db.admin, work_dir=built.work_dir, full_refresh=True)
    assert full.ok, "\n".join(full.output_tail[-40:])
    assert incremental == built.admin(sessions)
    # the full refresh checked the whole log
    assert "where started_at" not in _compiled_test(built, "unique_stg_events__requests")


def _compiled_test(built, name: str) -> str:
    (path,) = (built.work_dir / "target" / "compiled").rglob(f"{name}*.sql")
    return path.read_text()
