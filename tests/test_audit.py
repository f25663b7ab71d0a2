"""The audit log: what is recorded, who may write and read it, and the hash chain that
shows any later change — checked by `aigw audit verify`, run as operators run it."""

import hashlib
import json
import threading

import psycopg
import pytest

from api import audit, migrations
from tests.helpers import aigw, operator_call

PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
TRACKED = {
    "iam.areas", "iam.teams", "iam.users", "iam.user_roles", "iam.team_members",
    "iam.service_accounts", "iam.api_keys", "iam.invitations", "iam.user_credentials",
    "policy.models", "policy.pricing", "policy.team_policies", "policy.budgets",
    "policy.guardrails", "policy.mcp_servers",
}  # fmt: skip


def as_user(db, user_id, query: str, params: tuple = ()) -> list[tuple]:
    """One transaction as the services run it: aigw_app, with a principal (or none)."""
    principal = json.dumps({"user_id": str(user_id)} if user_id else {})
    with psycopg.connect(db.app) as conn, conn.transaction():
        conn.execute("select set_config('app.principal', %s, true)", (principal,))
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def events(db, after_id: int = 0) -> list[dict]:
    rows = operator_call(
        db.admin,
        "select id, actor_user_id, actor_login, action, target_type, target_id, detail "
        "from audit.events where id > %s order by id",
        (after_id,),
    )
    names = ("id", "actor_user_id", "actor_login", "action", "target_type", "target_id", "detail")
    return [dict(zip(names, row, strict=True)) for row in rows]


def last_id(db) -> int:
    return operator_call(db.admin, "select coalesce(max(id), 0) from audit.events")[0][0]


def user_with_role(db, email: str, role: str | None = None, scope: str | None = None):
    (user_id,) = operator_call(db.admin, "select api.create_user(%s)", (email,))[0]
    if role:
        operator_call(db.admin, "select api.grant_role(%s, %s, %s)", (user_id, role, scope))
    return user_id


def tamper(db, statement: str, params: tuple = ()) -> None:
    """What the owner of the table would have to do to rewrite history: take off the
    guard trigger and forced row-level security, deliberately."""
    with psycopg.connect(db.admin) as conn, conn.transaction():
        conn.execute("set role aigw_owner")
        conn.execute("alter table audit.events disable trigger audit_events_append_only")
        conn.execute("alter table audit.events no force row level security")
        conn.execute(statement, params)


def some_history(db, teams: int = 6) -> None:
    """Two rows per team (the team and its policy)."""
    for _ in range(teams):
        operator_call(db.admin, "select api.create_team('team-' || gen_random_uuid())")


# -- what is recorded -----------------------------------------------------------------


def test_admin_changes_are_recorded_with_their_actor_and_no_secret(db):
    admin = user_with_role(db, "admin@example.com", "platform_admin")
    start = last_id(db)

    (team_id,) = as_user(db, admin, "select api.create_team('payments')")[0]
    key_id, key = as_user(db, admin, "select id, key from api.issue_key('payments', 'ci')")[0]
    as_user(db, admin, "select api.set_price('azure-gpt-4o', 3, 12, 1.5)")
    as_user(db, admin, "select api.set_user_password(%s, %s)", (admin, PASSWORD_HASH))

    recorded = events(db, start)
    by_action = {e["action"]: e for e in recorded}
    assert list(by_action) == [
        "iam.teams.insert",
        "policy.team_policies.insert",
        "iam.api_keys.insert",
        "policy.pricing.update",
        "iam.user_credentials.insert",
        # (no iam.users.update: must_change_password was already false, nothing changed)
    ]
    assert all(e["actor_user_id"] == admin and e["actor_login"] == "aigw_app" for e in recorded)

    team = by_action["iam.teams.insert"]
    assert (team["target_type"], team["target_id"]) == ("iam.teams", str(team_id))
    assert team["detail"]["new"]["name"] == "payments"

    issued = by_action["iam.api_keys.insert"]
    assert issued["target_id"] == str(key_id)
    assert issued["detail"]["new"]["digest"] == "[redacted]"
    assert issued["detail"]["new"]["prefix"] == key[:12]

    # An update keeps only what changed, before and after.
    price = by_action["policy.pricing.update"]
    assert price["target_id"] == "azure-gpt-4o"
    assert set(price["detail"]["new"]) == {
        "input_usd_per_mtok", "output_usd_per_mtok", "cached_input_usd_per_mtok", "updated_at",
    }  # fmt: skip
    assert price["detail"]["new"]["input_usd_per_mtok"] == 3
    assert price["detail"]["old"]["input_usd_per_mtok"] == 2.5

    password = by_action["iam.user_credentials.insert"]
    assert password["target_id"] == str(admin)
    assert password["detail"]["new"]["password_hash"] == "[redacted]"

    everything = json.dumps([e["detail"] for e in recorded])
    digest = hashlib.sha256(key.encode()).hexdigest()
    for secret in (key, digest, PASSWORD_HASH, "argon2"):
        assert secret not in everything


def test_operators_changes_in_psql_are_recorded_under_their_login(db):
    start = last_id(db)
    operator_call(db.admin, "update policy.models set enabled = false where name = 'azure-gpt-4o'")
    (login,) = operator_call(db.admin, "select session_user::text")[0]
    (event,) = events(db, start)
    assert event["action"] == "policy.models.update"
    assert (event["actor_user_id"], event["actor_login"]) == (None, login)
    assert event["detail"] == {"old": {"enabled": True}, "new": {"enabled": False}}


def test_deletes_keep_the_old_row_and_composite_keys_name_the_target(db):
    user = user_with_role(db, "dev@example.com", "developer")
    operator_call(db.admin, "select api.create_team('t1')")
    operator_call(db.admin, "select api.add_team_member('t1', %s)", (user,))
    start = last_id(db)
    operator_call(db.admin, "select api.remove_team_member('t1', %s)", (user,))
    (event,) = events(db, start)
    assert event["action"] == "iam.team_members.delete"
    (team_id,) = operator_call(db.admin, "select id from iam.teams where name = 't1'")[0]
    assert event["target_id"] == f"{team_id}:{user}"
    assert event["detail"]["old"]["user_id"] == str(user)


def test_using_a_key_is_not_recorded_but_revoking_it_is(db):
    operator_call(db.admin, "select api.create_team('t1')")
    key_id, key = operator_call(db.admin, "select id, key from api.issue_key('t1', 'k')")[0]
    start = last_id(db)
    digest = hashlib.sha256(key.encode()).digest()
    as_user(db, None, "select * from api.authenticate_key(%s)", (digest,))
    assert operator_call(db.admin, "select last_used_at is not null from iam.api_keys") == [(True,)]
    assert events(db, start) == []

    operator_call(db.admin, "select api.revoke_key(%s)", (key_id,))
    (event,) = events(db, start)
    assert event["action"] == "iam.api_keys.update"
    assert event["detail"]["new"]["status"] == "revoked"
    assert "last_used_at" not in event["detail"]["new"]


def test_exactly_the_administrative_tables_are_tracked(module_db):
    rows = operator_call(
        module_db.admin,
        "select distinct tgrelid::regclass::text from pg_trigger "
        "where tgfoid = 'audit.capture'::regproc",
    )
    assert {r[0] for r in rows} == TRACKED


def test_auth_events_from_the_service(db):
    start = last_id(db)
    (event_id,) = as_user(
        db,
        None,
        "select api.record_auth_event('auth.login_failed', ' Ana@Example.com', %s)",
        (json.dumps({"reason": "bad password", "password": "hunter2", "oidc": {"token": "x"}}),),
    )[0]
    (event,) = events(db, start)
    assert event["id"] == event_id
    assert (event["action"], event["actor_login"]) == ("auth.login_failed", "aigw_app")
    assert (event["target_type"], event["target_id"]) == ("email", "ana@example.com")
    assert event["detail"] == {
        "reason": "bad password", "password": "[redacted]", "oidc": {"token": "[redacted]"},
    }  # fmt: skip


@pytest.mark.parametrize(
    "action", ["iam.teams.insert", "policy.pricing.update", "authx.login", "auth", "AUTH.login"]
)
def test_the_service_cannot_forge_administrative_history(db, action):
    with pytest.raises(psycopg.Error) as raised:
        as_user(db, None, "select api.record_auth_event(%s, 'a@example.com', '{}')", (action,))
    assert raised.value.sqlstate == "AIG06"
    assert events(db) == []


# -- append-only ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "insert into audit.events (actor_login, action, prev_hash, hash) "
        "values ('x', 'iam.teams.insert', sha256(''), sha256('x'))",
        "update audit.events set detail = '{}'",
        "delete from audit.events",
        "truncate audit.events",
        "select audit.record('iam.teams.insert', null, null, '{}')",
        "select * from audit.events",
    ],
)
@pytest.mark.parametrize("role", ["aigw_app", "aigw_operator"])
def test_neither_services_nor_operators_hold_any_privilege_on_the_log(db, statement, role):
    url = db.app if role == "aigw_app" else db.admin
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        if role == "aigw_operator":
            conn.execute("set role aigw_operator")
        conn.execute(statement)


@pytest.mark.parametrize(
    "statement",
    ["update audit.events set detail = '{}'", "delete from audit.events", "truncate audit.events"],
)
def test_even_a_superuser_must_take_the_guard_off_first(db, statement):
    some_history(db, 1)
    with pytest.raises(psycopg.Error, match="append-only") as raised:
        operator_call(db.admin, statement)
    assert raised.value.sqlstate == "AIG03"
    assert len(events(db)) == 2


# -- the chain ------------------------------------------------------------------------


def test_the_chain_links_each_row_to_the_one_before(db):
    some_history(db, 3)
    rows = operator_call(db.admin, audit.CHAIN_QUERY)
    assert len(rows) == 6
    assert bytes(rows[0][1]) == audit.GENESIS
    for (_, _, previous, _), (_, prev_hash, _, _) in zip(rows, rows[1:], strict=False):
        assert bytes(prev_hash) == bytes(previous)
    check = audit.ChainCheck()
    check.add_all(rows)
    assert check.intact and check.rows == 6


def test_concurrent_writers_keep_one_unbroken_chain(db):
    errors: list[BaseException] = []

    def write(prefix: str) -> None:
        try:
            with psycopg.connect(db.admin, autocommit=True) as conn:
                for i in range(25):
                    conn.execute("select api.create_team(%s)", (f"{prefix}-{i}",))
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    result = aigw(db, "audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "intact: 100 rows checked" in result.stdout
    (head,) = operator_call(db.admin, "select hash from audit.events order by id desc limit 1")[0]
    assert f"Head hash  {bytes(head).hex()}" in result.stdout


def test_a_writer_with_an_older_snapshot_cannot_fork_the_chain(db):
    some_history(db, 1)
    with psycopg.connect(db.admin) as stale:
        stale.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        stale.execute("select count(*) from audit.events")  # takes the snapshot
        some_history(db, 2)  # another connection moves the chain on
        with pytest.raises(psycopg.errors.SerializationFailure):
            stale.execute("select api.create_team('late')")
    assert aigw(db, "audit", "verify").returncode == 0


def test_verify_names_a_changed_row(db):
    some_history(db)
    (target,) = operator_call(db.admin, "select id from audit.events order by id offset 5 limit 1")[
        0
    ]
    tamper(db, "update audit.events set detail = '{\"new\": {}}' where id = %s", (target,))

    result = aigw(db, "audit", "verify")
    assert result.returncode == 1
    assert f"row {target}: contents changed" in result.stdout
    assert "1 of 12 rows do not fit" in result.stdout
    assert "Traceback" not in result.stderr


def test_verify_names_a_row_re_hashed_to_hide_a_change(db):
    some_history(db)
    target, following = 5, 6
    # A careful tamperer recomputes the changed row's hash; the next row still points at
    # the old one.
    tamper(
        db,
        "update audit.events set action = 'iam.teams.delete', "
        "hash = sha256(prev_hash || convert_to(jsonb_build_array(id, "
        "(extract(epoch from at) * 1000000)::bigint, actor_user_id, actor_login, "
        "'iam.teams.delete', target_type, target_id, detail)::text, 'UTF8')) where id = %s",
        (target,),
    )
    result = aigw(db, "audit", "verify")
    assert result.returncode == 1
    assert f"row {following}: previous row missing or reordered" in result.stdout
    assert f"row {target}:" not in result.stdout


def test_verify_names_a_removed_row(db):
    some_history(db)
    tamper(db, "delete from audit.events where id = 7")
    result = aigw(db, "audit", "verify")
    assert result.returncode == 1
    assert "row 8: previous row missing or reordered" in result.stdout
    assert "row 7 is absent" in result.stdout


def test_an_anchor_catches_rows_cut_from_the_end(db):
    some_history(db, 3)
    first = aigw(db, "audit", "verify")
    assert first.returncode == 0, first.stdout + first.stderr
    anchor = first.stdout.split("Head hash")[1].split()[0]

    some_history(db, 1)
    assert aigw(db, "audit", "verify", "--anchor", anchor).returncode == 0

    # Removing the newest rows leaves a chain that verifies on its own...
    tamper(db, "delete from audit.events where id > 4")
    assert aigw(db, "audit", "verify").returncode == 0
    # ...but not against a head hash kept elsewhere.
    result = aigw(db, "audit", "verify", "--anchor", anchor)
    assert result.returncode == 1
    assert f"Anchor {anchor} is not in the chain" in " ".join(result.stdout.split())


def test_a_wrong_anchor_fails_the_one_verdict_of_an_intact_chain(db):
    some_history(db, 2)
    result = aigw(db, "audit", "verify", "--anchor", "ab" * 32)
    assert result.returncode == 1
    assert "intact" not in result.stdout
    assert result.stdout.count("Audit chain") == 1  # one verdict, after every check
    last = " ".join(result.stdout.strip().splitlines()[-1].split())
    assert last == "✗ Audit chain cut short or rewritten: 1 of 1 anchors not in it"


def anchored(db, anchors) -> list[dict]:
    result = aigw(db, "audit", "anchor", "--file", str(anchors))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Audit chain intact" in result.stdout and "Anchored row" in result.stdout
    return [json.loads(line) for line in anchors.read_text().splitlines()]


def test_an_anchors_file_catches_a_superuser_cutting_the_chain_with_triggers_off(db, tmp_path):
    """With session_replication_role = replica a superuser's session fires no trigger, the
    append-only guard included: rows go and what is left still verifies on its own. The
    anchors appended elsewhere on a schedule do not."""
    anchors = tmp_path / "anchors.jsonl"
    some_history(db, 3)
    (first,) = anchored(db, anchors)
    some_history(db, 1)
    first_again, second = anchored(db, anchors)
    assert first_again == first and set(second) == {"at", "row", "hash"}
    rows = dict(operator_call(db.admin, "select id, encode(hash, 'hex') from audit.events"))
    assert (rows[first["row"]], rows[second["row"]]) == (first["hash"], second["hash"])
    ok = aigw(db, "audit", "verify", "--anchors-file", str(anchors))
    assert ok.returncode == 0, ok.stdout
    assert "2 anchors in it" in ok.stdout

    with psycopg.connect(db.admin) as conn, conn.transaction():
        conn.execute("set local session_replication_role = replica")
        conn.execute("delete from audit.events where id > %s", (first["row"],))
    assert aigw(db, "audit", "verify").returncode == 0  # consistent, as far as it goes
    result = aigw(db, "audit", "verify", "--anchors-file", str(anchors))
    assert result.returncode == 1
    said = " ".join(result.stdout.split())
    assert f"Anchor {second['hash']} (row {second['row']}, anchored {second['at']})" in said
    assert f"Anchor {first['hash']}" not in said
    assert "intact" not in said and "1 of 2 anchors not in it" in said
    # nor is the file extended from a chain that fails it
    refused = aigw(db, "audit", "anchor", "--file", str(anchors))
    assert refused.returncode == 1
    assert len(anchors.read_text().splitlines()) == 2


def test_anchors_files_that_are_missing_empty_or_not_anchors_are_refused(db, tmp_path):
    some_history(db, 1)
    missing = aigw(db, "audit", "verify", "--anchors-file", str(tmp_path / "none.jsonl"))
    assert missing.returncode == 1 and "no anchors file" in missing.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "holds no anchor" in aigw(db, "audit", "verify", "--anchors-file", str(empty)).stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"at": "x", "row": 1, "hash": "ab" * 32}) + "\n" + '{"hash": 1}\n')
    for command in ("verify", "anchor"):
        option = "--anchors-file" if command == "verify" else "--file"
        result = aigw(db, "audit", command, option, str(bad))
        assert result.returncode == 1
        assert f"{bad}, line 2: not an anchor" in " ".join(result.stderr.split())
        assert "Traceback" not in result.stderr
    assert len(bad.read_text().splitlines()) == 2


def test_anchoring_an_empty_log_writes_nothing(db, tmp_path):
    result = aigw(db, "audit", "anchor", "--file", str(tmp_path / "anchors.jsonl"))
    assert result.returncode == 0 and "Nothing to anchor yet" in result.stdout
    assert not (tmp_path / "anchors.jsonl").exists()


def test_verify_an_empty_log_and_bad_anchors(db):
    result = aigw(db, "audit", "verify")
    assert result.returncode == 0
    assert "intact: 0 rows" in result.stdout and "empty" in result.stdout
    bad = aigw(db, "audit", "verify", "--anchor", "abc")
    assert bad.returncode == 1
    assert "not a head hash" in bad.stderr


def test_verify_reports_an_unmigrated_database(empty_db):
    result = aigw(empty_db, "audit", "verify")
    assert result.returncode == 1
    assert "aigw migrate" in result.stderr
    assert "Traceback" not in result.stderr


def test_verify_refuses_a_login_that_may_not_read_the_log(db):
    result = aigw(db, "audit", "verify", env={"DATABASE_URL": db.app})
    assert result.returncode == 1
    assert "this login may not read the audit log" in result.stderr


def test_downgrading_removes_the_log_and_its_triggers_and_upgrading_restores_them(db):
    migrations.downgrade(db.admin, "0007")
    assert operator_call(db.admin, "select to_regnamespace('audit')") == [(None,)]
    operator_call(db.admin, "select api.create_team('while-down')")  # no trigger left behind
    assert migrations.upgrade(db.admin) is True
    operator_call(db.admin, "select api.create_team('after')")
    assert [e["action"] for e in events(db)] == ["iam.teams.insert", "policy.team_policies.insert"]


# -- reading it -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "sqlstate"),
    [
        ("platform_admin", None),
        ("team_admin", "AIG03"),
        ("developer", "AIG03"),
        ("suspended_admin", "AIG01"),  # a suspended user is no principal at all
        ("anonymous", "AIG01"),
    ],
)
def test_only_platform_admins_and_operators_read_the_log(db, who, sqlstate):
    operator_call(db.admin, "select api.create_team('t1')")
    if who == "anonymous":
        user = None
    elif who == "suspended_admin":
        user = user_with_role(db, "s@example.com", "platform_admin")
        operator_call(db.admin, "select api.set_user_status(%s, 'suspended')", (user,))
    else:
        user = user_with_role(db, f"{who}@example.com", who, "t1" if who == "team_admin" else None)
    query = "select action from api.list_audit_events()"
    if sqlstate is None:
        assert ("iam.teams.insert",) in as_user(db, user, query)
    else:
        with pytest.raises(psycopg.Error) as raised:
            as_user(db, user, query)
        assert raised.value.sqlstate == sqlstate
    # Operators read it whatever principal is set.
    assert ("iam.teams.insert",) in operator_call(db.admin, query)


def test_listing_filters_and_pages(db):
    admin = user_with_role(db, "admin@example.com", "platform_admin")
    as_user(db, admin, "select api.create_team('t1')")
    as_user(db, admin, "select api.issue_key('t1', 'k')")
    as_user(db, None, "select api.record_auth_event('auth.login', 'admin@example.com', '{}')")

    def listed(*args) -> list[tuple]:
        return as_user(
            db,
            admin,
            "select id, action, actor_email from api.list_audit_events(%s, %s, %s, %s)",
            args,
        )

    everything = listed(100, None, None, None)
    assert [r[0] for r in everything] == sorted((r[0] for r in everything), reverse=True)
    assert [r[1] for r in listed(100, None, "iam.teams", None)] == ["iam.teams.insert"]
    assert [r[1] for r in listed(100, None, "iam.team", None)] == []  # whole segments only
    assert [r[1] for r in listed(100, None, "auth", None)] == ["auth.login"]
    mine = listed(100, None, None, admin)
    assert {r[1] for r in mine} == {
        "iam.teams.insert", "policy.team_policies.insert", "iam.api_keys.insert",
    }  # fmt: skip
    assert {r[2] for r in mine} == {"admin@example.com"}
    newest, second = everything[0][0], everything[1][0]
    assert listed(1, None, None, None) == [everything[0]]
    assert listed(1, newest, None, None)[0][0] == second


def test_audit_list_prints_the_log(db):
    operator_call(db.admin, "select api.create_team('checkout')")
    result = aigw(db, "audit", "list", "--action", "iam.teams", "--full")
    assert result.returncode == 0, result.stderr
    assert "iam.teams.insert" in result.stdout and "checkout" in result.stdout
    assert "policy.team_policies" not in result.stdout
