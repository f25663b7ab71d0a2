"""Small helpers shared by the tests."""

import psycopg


def operator_call(admin_url: str, query: str, params: tuple | dict | None = ()) -> list[tuple]:
    """Run one statement as an operator (the administrative login) and commit it."""
    with psycopg.connect(admin_url) as conn, conn.transaction():
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []
