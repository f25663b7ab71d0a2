"""What every admin router shares: the caller's connection, the error responses every
endpoint documents, request-body types and base class.

Endpoints are thin on purpose: each is one call of an api.* function inside the caller's
transaction. Who may do what is decided there (row-level security and the functions'
checks), never here.
"""

import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth.deps import user_connection
from api.auth.errors import responses

# scope="function": the transaction ends (commits) before the response is sent, so a
# client that got a 2xx reads its own write on its next request, and a failed commit is
# an error rather than a success already on the wire.
Connection = Annotated[asyncpg.Connection, Depends(user_connection, scope="function")]

# The names the database accepts for areas, teams, keys, rules and servers.
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]

# Every endpoint documents these, in the error body of /auth and /admin.
ERROR_RESPONSES = responses(401, 403, 404, 409, 422)

# Bounds that only keep a value representable in its column; what makes a value valid
# (a positive limit, a price of 0 or more) the database says, with its own message.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Usd = Annotated[Decimal, Field(ge=Decimal("-99999999"), le=Decimal("99999999"))]


class Body(BaseModel):
    """Request bodies refuse unknown fields: a misspelt field is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Created(BaseModel):
    id: uuid.UUID


def as_dicts(records: Iterable[asyncpg.Record]) -> list[dict[str, Any]]:
    return [dict(r) for r in records]
