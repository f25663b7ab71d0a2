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
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import Slug, UserConnection  # noqa: F401 (re-exported)
from api.auth.errors import responses

# The signed-in caller's transaction (committed before the response is sent), and names.
Connection = UserConnection

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
