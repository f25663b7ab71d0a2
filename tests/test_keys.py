"""The key format and api.authenticate_key."""

import random
import string
import uuid

import asyncpg
import psycopg
import pytest

from api import keys
from api.database import principal_transaction
from api.embedded import with_login
from tests.helpers import operator_call


def issue(admin_url: str, team: str = "t1", name: str = "k", **kwargs) -> tuple:
    expires = kwargs.get("expires_at")
    return operator_call(
        admin_url,
        "select id, key, prefix from api.issue_key(%s, %s, null, %s)",
        (team, name, expires),
    )[0]


@pytest.fixture
def team_db(db):
    operator_call(db.admin, "select api.create_team('t1')")
    operator_call(db.admin, "select api.set_team_policy('t1', array['gpt-4o'], 60, 1000)")
    return db


def test_issued_keys_have_the_scannable_format_and_a_valid_checksum(team_db):
    issued = [issue(team_db.admin, name=f"k{i}")[1] for i in range(20)]
    assert len(set(issued)) == 20
    for key in issued:
        assert keys.PATTERN.fullmatch(key), key
        assert keys.is_well_formed(key)


def test_any_single_character_typo_fails_the_checksum(team_db):
    key = issue(team_db.admin)[1]
    rng = random.Random(7)
    for position in range(len(keys.PREFIX), len(key)):
        replacement = rng.choice([c for c in keys.ALPHABET if c != key[position]])
        assert not keys.is_well_formed(key[:position] + replacement + key[position + 1 :])
    for malformed in ("", "sk-aigw-", key[:-1], key + "x", key.replace("sk-aigw-", "sk-abcd-")):
        assert not keys.is_well_formed(malformed)


def test_database_and_python_compute_the_same_checksum(team_db):
    rng = random.Random(42)
    bodies = ["".join(rng.choices(string.ascii_letters + string.digits, k=30)) for _ in range(50)]
    rows = operator_call(
        team_db.admin,
        "select b, iam.base62(iam.crc32(convert_to(b, 'UTF8')), 6) from unnest(%s::text[]) b",
        (bodies,),
    )
    assert {b: c for b, c in rows} == {b: keys.checksum(b) for b in bodies}


def test_only_the_digest_and_display_prefix_are_stored(team_db):
    key_id, key, prefix = issue(team_db.admin)
    assert prefix == keys.display_prefix(key)
    stored = operator_call(
        team_db.admin, "select digest, prefix from iam.api_keys where id = %s", (key_id,)
    )[0]
    assert bytes(stored[0]) == keys.digest(key)
    dump = operator_call(team_db.admin, "select row_to_json(k)::text from iam.api_keys k")[0][0]
    assert key[len(prefix) :] not in dump


def test_a_key_gets_every_scope_unless_fewer_are_named(team_db):
    def scopes(name: str, named: list[str] | None) -> list[str]:
        operator_call(
            team_db.admin, "select api.issue_key('t1', %s, p_scopes => %s)", (name, named)
        )
        return operator_call(
            team_db.admin, "select scopes from api.list_keys() where name = %s", (name,)
        )[0][0]

    assert scopes("all", None) == ["inference", "embeddings"]
    assert scopes("chat", ["inference"]) == ["inference"]
    assert scopes("both", ["embeddings", "inference", "embeddings"]) == ["inference", "embeddings"]


def test_there_is_no_admin_scope_and_the_refusal_says_what_there_is(team_db):
    """The admin API takes signed-in sessions, never keys: a key "with admin" would
    grant nothing it names and everything else."""
    with pytest.raises(psycopg.Error) as refused:
        operator_call(team_db.admin, "select api.issue_key('t1', 'k', p_scopes => '{admin}')")
    assert refused.value.sqlstate == "AIG06"
    hint = refused.value.diag.message_hint
    assert "inference (chat completions" in hint and "embeddings (/v1/embeddings)" in hint
    assert "signed-in session" in hint
    assert operator_call(team_db.admin, "select count(*) from iam.api_keys") == [(0,)]


async def authenticate(db, key: str):
    conn = await asyncpg.connect(db.app)
    try:
        async with principal_transaction(conn, None) as c:
            return await c.fetchrow("select * from api.authenticate_key($1)", keys.digest(key))
    finally:
        await conn.close()


async def test_authenticate_key_returns_the_whole_principal_in_one_call(team_db):
    key_id, key, _ = issue(team_db.admin)
    principal = await authenticate(team_db, key)
    assert principal["key_id"] == key_id
    assert principal["team_name"] == "t1"
    assert principal["scopes"] == ["inference", "embeddings"]
    assert principal["allowed_models"] == ["gpt-4o"]
    assert (principal["team_rpm_limit"], principal["team_tpm_limit"]) == (60, 1000)
    assert (principal["key_rpm_limit"], principal["key_tpm_limit"]) == (None, None)
    operator_call(team_db.admin, "select api.set_model_enabled('gpt-4o', false)")
    operator_call(team_db.admin, "select api.set_key_limits(%s, 10, 500)", (key_id,))
    principal = await authenticate(team_db, key)
    assert principal["allowed_models"] == []
    assert (principal["key_rpm_limit"], principal["key_tpm_limit"]) == (10, 500)
    assert operator_call(team_db.admin, "select last_used_at is not null from api.list_keys()") == [
        (True,)
    ]


async def test_unknown_revoked_expired_and_disabled_keys_are_refused(team_db):
    _, unknown, _ = issue(team_db.admin, name="unknown")
    operator_call(team_db.admin, "delete from iam.api_keys where name = 'unknown'")

    revoked_id, revoked, _ = issue(team_db.admin, name="revoked")
    operator_call(team_db.admin, "select api.revoke_key(%s)", (revoked_id,))

    expired_id, expired, _ = issue(team_db.admin, name="expired")
    # Time passes: move the expiry into the past directly, with owner rights.
    operator_call(
        team_db.admin,
        "update iam.api_keys set expires_at = now() - interval '1 second' where id = %s",
        (expired_id,),
    )

    (sa_id,) = operator_call(team_db.admin, "select api.create_service_account('t1', 'bot')")[0]
    (disabled,) = operator_call(
        team_db.admin, "select key from api.issue_key('t1', 'bot-key', %s)", (sa_id,)
    )[0]
    operator_call(team_db.admin, "select api.set_service_account_status(%s, 'suspended')", (sa_id,))

    expected = {
        unknown: ("AIG01", "invalid API key"),
        revoked: ("AIG02", "API key revoked"),
        expired: ("AIG02", "API key expired"),
        disabled: ("AIG02", "API key disabled: its owner is not active"),
    }
    for key, (sqlstate, message) in expected.items():
        with pytest.raises(asyncpg.PostgresError) as refused:
            await authenticate(team_db, key)
        assert (refused.value.sqlstate, str(refused.value)) == (sqlstate, message)


async def test_a_suspended_users_personal_key_stops_working(team_db):
    (user_id,) = operator_call(team_db.admin, "select api.create_user('dev@example.com')")[0]
    operator_call(team_db.admin, "select api.grant_role(%s, 'developer')", (user_id,))
    operator_call(team_db.admin, "select api.add_team_member('t1', %s)", (user_id,))
    conn = await asyncpg.connect(team_db.app)
    try:
        async with principal_transaction(conn, {"user_id": str(user_id)}) as c:
            key = await c.fetchval("select key from api.issue_key('t1', 'mine')")
    finally:
        await conn.close()
    assert (await authenticate(team_db, key))["owner_user_id"] == user_id
    operator_call(team_db.admin, "select api.set_user_status(%s, 'suspended')", (user_id,))
    with pytest.raises(asyncpg.PostgresError) as refused:
        await authenticate(team_db, key)
    assert refused.value.sqlstate == "AIG02"


def test_issuing_a_key_with_an_expiry_in_the_past_is_refused(team_db):
    with pytest.raises(psycopg.Error) as refused:
        issue(team_db.admin, expires_at="2000-01-01T00:00:00Z")
    assert refused.value.sqlstate == "AIG06"
    assert operator_call(team_db.admin, "select count(*) from api.list_keys()") == [(0,)]


async def test_a_personal_key_stops_when_its_owner_leaves_the_team_or_loses_the_role(team_db):
    (user_id,) = operator_call(team_db.admin, "select api.create_user('leaver@example.com')")[0]
    operator_call(team_db.admin, "select api.grant_role(%s, 'developer')", (user_id,))
    operator_call(team_db.admin, "select api.add_team_member('t1', %s)", (user_id,))
    conn = await asyncpg.connect(team_db.app)
    try:
        async with principal_transaction(conn, {"user_id": str(user_id)}) as c:
            key = await c.fetchval("select key from api.issue_key('t1', 'mine')")
    finally:
        await conn.close()
    assert (await authenticate(team_db, key))["team_name"] == "t1"

    operator_call(team_db.admin, "select api.remove_team_member('t1', %s)", (user_id,))
    with pytest.raises(asyncpg.PostgresError) as refused:
        await authenticate(team_db, key)
    assert str(refused.value) == "API key disabled: its owner no longer belongs to the team"

    operator_call(team_db.admin, "select api.add_team_member('t1', %s)", (user_id,))
    assert (await authenticate(team_db, key))["team_name"] == "t1"
    operator_call(team_db.admin, "select api.revoke_role(%s, 'developer')", (user_id,))
    with pytest.raises(asyncpg.PostgresError):
        await authenticate(team_db, key)


async def test_a_key_owner_may_revoke_but_not_move_or_revive_their_key(team_db):
    (user_id,) = operator_call(team_db.admin, "select api.create_user('own@example.com')")[0]
    operator_call(team_db.admin, "select api.grant_role(%s, 'developer')", (user_id,))
    operator_call(team_db.admin, "select api.add_team_member('t1', %s)", (user_id,))
    operator_call(team_db.admin, "select api.create_team('t2')")
    conn = await asyncpg.connect(team_db.app)
    try:
        async with principal_transaction(conn, {"user_id": str(user_id)}) as c:
            key_id = await c.fetchval("select id from api.issue_key('t1', 'mine')")
    finally:
        await conn.close()
    (t2,) = operator_call(team_db.admin, "select id from iam.teams where name = 't2'")[0]
    # The functions never do this; the policy refuses it even for one that would. A login
    # that may act as aigw_owner but is no operator stands in for such a function.
    probe = f"probe_{uuid.uuid4().hex[:8]}"
    operator_call(team_db.admin, f"create role {probe} login; grant aigw_owner to {probe}")
    try:
        probe_url = with_login(team_db.admin, probe)
        with psycopg.connect(probe_url) as conn:
            conn.execute("set role aigw_owner")
            conn.execute(
                "select set_config('app.principal', %s, false)", (f'{{"user_id": "{user_id}"}}',)
            )
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("update iam.api_keys set team_id = %s where id = %s", (t2, key_id))
            conn.rollback()
            conn.execute("set role aigw_owner")
            conn.execute(
                "select set_config('app.principal', %s, false)", (f'{{"user_id": "{user_id}"}}',)
            )
            revoked = conn.execute(
                "update iam.api_keys set status = 'revoked', revoked_at = now() where id = %s",
                (key_id,),
            )
            assert revoked.rowcount == 1
            conn.rollback()
    finally:
        operator_call(team_db.admin, f"drop role {probe}")
