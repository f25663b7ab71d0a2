"""What every admin router shares: the caller's connection, the error body and the
responses every endpoint documents, and the request-body base class.

Endpoints are thin on purpose: each is one call of an api.* function inside the caller's
transaction. Who may do what is decided there (row-level security and the functions'
checks), never here.
"""

import uuid
from collections.abc import Iterable
from typing import Annotated, Any

import asyncpg
from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth.deps import user_connection

# scope="function": the transaction ends (commits) before the response is sent, so a
# client that got a 2xx reads its own write on its next request, and a failed commit is
# an error rather than a success already on the wire.
Connection = Annotated[asyncpg.Connection, Depends(user_connection, scope="function")]

# The names the database accepts for areas, teams, keys, rules and servers.
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]


class ErrorDetail(BaseModel):
    type: str = Field(examples=["permission_error"])
    message: str = Field(examples=['you may not set the policy of team "checkout"'])


class ErrorBody(BaseModel):
    """Every error of /admin: the database's message, or what failed validation."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Not signed in."},
    403: {
        "model": ErrorBody,
        "description": "Signed in, but your role does not allow this (or you must change "
        "your password first).",
    },
    404: {
        "model": ErrorBody,
        "description": "No such object, or none that you may see: rows outside your scope "
        "are invisible, not forbidden.",
    },
    409: {"model": ErrorBody, "description": "Conflicts with an existing object."},
    422: {"model": ErrorBody, "description": "Invalid input; nothing was written."},
}


class Body(BaseModel):
    """Request bodies refuse unknown fields: a misspelt field is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Created(BaseModel):
    id: uuid.UUID


def as_dicts(records: Iterable[asyncpg.Record]) -> list[dict[str, Any]]:
    return [dict(r) for r in records]
