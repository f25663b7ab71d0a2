"""First run of a stack: a platform admin, a demo area and team, and a key for it.

All in one transaction: either everything is created and printed once, or nothing is.
"""

from dataclasses import dataclass

import psycopg

from api.passwords import hash_password, one_time_password

DEFAULT_ADMIN_EMAIL = "admin@aigw.localhost"
DEMO_AREA = "demo"
DEMO_TEAM = "demo"
DEMO_KEY_NAME = "demo-key"


@dataclass(frozen=True)
class FirstRun:
    admin_email: str
    admin_password: str
    team: str
    api_key: str


def bootstrap(admin_url: str, admin_email: str = DEFAULT_ADMIN_EMAIL) -> FirstRun | None:
    """Seed an empty database; returns None (and changes nothing) if anyone exists."""
    password = one_time_password()
    with psycopg.connect(admin_url) as conn, conn.transaction():
        seeded = conn.execute(
            "select admin_user_id from api.bootstrap(%s, %s, %s, %s)",
            (admin_email, hash_password(password), DEMO_AREA, DEMO_TEAM),
        ).fetchone()
        if seeded is None:
            return None
        key = conn.execute(
            "select key from api.issue_key(%s, %s)", (DEMO_TEAM, DEMO_KEY_NAME)
        ).fetchone()[0]
    return FirstRun(admin_email, password, DEMO_TEAM, key)
