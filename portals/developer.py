"""The developer portal: /portal (your keys and your teams' keys: create, revoke) and
/portal/setup (the lines that point Claude Code, Codex and the SDKs at this gateway, and
Claude Code's hooks block, which reports its sessions for classification).

A developer's key is issued by the same api.issue_key as a team admin's: the database
makes it personal for a developer and refuses a team the user is not in.
"""

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.hooks import settings as hook_settings
from portals import admin_pages
from portals.web import Form, Pages, PageUser, render

router = APIRouter()
pages = Pages(router)


async def keys_view(request: Request, user: PageUser, **context) -> Response:
    return await admin_pages.keys_view(request, user, template="portal/keys.html", **context)


@pages.get("/portal")
async def portal(request: Request, user: PageUser) -> Response:
    return await keys_view(request, user)


@pages.post("/portal/keys", view=keys_view)
async def create_key(request: Request, user: PageUser, form: Form) -> Response:
    return await admin_pages.issue(request, user, form, keys_view)


@pages.post("/portal/keys/revoke", view=keys_view)
async def revoke_key(request: Request, user: PageUser, form: Form) -> Response:
    return await admin_pages.revoke(request, user, form, "/portal")


def gateway_url(request: Request) -> str:
    """This gateway as the browser reached it (behind a proxy: its X-Forwarded-* headers,
    as uvicorn trusts them)."""
    return str(request.base_url).rstrip("/")


@pages.get("/portal/setup")
async def setup(request: Request, user: PageUser) -> Response:
    base = gateway_url(request)
    hooks = json.dumps(hook_settings.settings_block(base), indent=2)
    return render(
        request,
        "portal/setup.html",
        user,
        base=base,
        hooks=hooks,
        key_variable=hook_settings.KEY_VARIABLE,
    )
