"""What every page shares: routing browsers to pages, security headers, templates, the
signed-in user, CSRF tokens, form parsing, paging and error pages.

Security, in one place:
- The session is the server-side session of /auth (api.start_session), carried in the
  `aigw_session` cookie: HttpOnly (no script, ours or injected, can read it), SameSite=Lax,
  Secure except for http on this machine, persistent only with "stay signed in".
- CSRF: every form carries a token. Signed in, it is derived from the session token, which
  only the browser's HttpOnly cookie holds; before sign-in (the sign-in and invitation
  forms) it is a random value that must match the `aigw_csrf` cookie (double submit). A
  form whose token does not match, or whose Origin is another site, is refused with 403
  before anything runs.
- Headers on every page and asset: a Content-Security-Policy allowing scripts, styles and
  images from this origin only (no inline script, no eval), no framing, nosniff, and
  no-store (pages show personal data, and a new key once).
- Templates autoescape everything; values are never marked safe.
"""

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from math import ceil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import asyncpg
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.staticfiles import StaticFiles

from api import errors
from api.auth.deps import (
    SESSION_COOKIE,
    SessionUser,
    any_session_user,
    cookie_secure,
    presented_token,
)
from api.auth.errors import ApiProblem
from api.auth.sso_state import safe_next
from api.database import principal_transaction
from api.request_bodies import BodyRefused, read_limited

log = logging.getLogger("aigw.portals")
HERE = Path(__file__).parent
PAGES_PREFIX = "/_pages"
ASSETS_PATH = "/assets"
# The paths a browser may be given a page for (and their subpaths).
PAGE_ROOTS = ("/admin", "/portal", "/login", "/logout", "/account", "/auth/invitations/accept")
CSRF_COOKIE = "aigw_csrf"
FLASH_COOKIE = "aigw_flash"
FORM_LIMIT_BYTES = 64 * 1024
PAGE_SIZE = 25

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


def is_page_path(path: str) -> bool:
    return path == "/" or any(path == root or path.startswith(root + "/") for root in PAGE_ROOTS)


def wants_page(scope) -> bool:
    """A browser's navigation or form post (see the package docstring)."""
    headers = dict(scope["headers"])
    method = scope["method"]
    if method in ("GET", "HEAD"):
        accept = headers.get(b"accept", b"").lower()
        return b"text/html" in accept or headers.get(b"hx-request") == b"true"
    if method == "POST":
        content_type = headers.get(b"content-type", b"").lower()
        return content_type.startswith(b"application/x-www-form-urlencoded")
    return False


class PortalRouting:
    """ASGI middleware: sends page requests to the page routes, and puts the security
    headers on pages and assets. Everything else passes through untouched."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if is_page_path(path) and wants_page(scope):
            scope = dict(scope, path=PAGES_PREFIX + path, raw_path=(PAGES_PREFIX + path).encode())
            scope["aigw.page_path"] = path
        elif not path.startswith(ASSETS_PATH + "/"):
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                existing = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in existing]
                message = dict(message, headers=[*message.get("headers", []), *extra])
            await send(message)

        await self.app(scope, receive, send_with_headers)


def assets() -> StaticFiles:
    return StaticFiles(directory=HERE / "static")


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _money(value) -> str:
    return "—" if value is None else f"${float(value):,.4f}"


def _when(value) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _number(value) -> str:
    return "—" if value is None else f"{value:,}"


def _count(value) -> str:
    return "0" if value is None else f"{int(value):,}"


def _json(value) -> str:
    return "" if value is None else orjson.dumps(value).decode()


templates.filters.update(money=_money, when=_when, number=_number, count=_count, tojson_text=_json)

ADMIN_NAV = (
    ("Dashboard", "/admin"),
    ("Users & Access", "/admin/users"),
    ("Teams", "/admin/teams"),
    ("Areas", "/admin/areas"),
    ("API Keys", "/admin/api-keys"),
    ("Policies", "/admin/policies"),
    ("Guardrails", "/admin/guardrails"),
    ("Pricing", "/admin/pricing"),
    ("Model Registry", "/admin/models"),
    ("MCP Servers", "/admin/mcp"),
    ("Insights", "/admin/insights"),
    ("AI Transformation", "/admin/transformation"),
    ("Audit Log", "/admin/audit"),
    ("System Health", "/admin/system"),
)
ADMIN_ROLES = frozenset({"platform_admin", "area_owner", "team_admin"})


# -- who is signed in ----------------------------------------------------------------------


@dataclass
class PageUser:
    session: SessionUser
    token: str
    roles: list[dict] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    is_platform_admin: bool = False

    @property
    def email(self) -> str:
        return self.session.email

    @property
    def role_names(self) -> set[str]:
        return {r["role"] for r in self.roles}

    @property
    def is_admin(self) -> bool:
        """Holds a role that manages something (the admin portal's write controls)."""
        return self.is_platform_admin or bool(self.role_names & ADMIN_ROLES)

    def has(self, *roles: str) -> bool:
        return self.is_platform_admin or bool(self.role_names & set(roles))

    def admin_teams(self) -> list[str]:
        return sorted({r["team"] for r in self.roles if r["role"] == "team_admin" and r["team"]})

    @property
    def csrf(self) -> str:
        return session_csrf(self.token)

    def transaction(self, pool):
        return principal_transaction(pool, {"user_id": self.session.user_id})


def session_csrf(session_token: str) -> str:
    """The CSRF token of a session: only whoever holds the session cookie can compute it."""
    mac = hashlib.sha256(b"aigw-portal-csrf\x00" + session_token.encode()).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


async def signed_in(request: Request) -> PageUser | None:
    token = request.cookies.get(SESSION_COOKIE)
    # Pages know the cookie's session only: a bearer token sent beside it (a script's)
    # must not become the user whose CSRF token is the cookie's.
    if not token or presented_token(request) != token:
        return None
    try:
        session = await any_session_user(request)
    except ApiProblem:
        return None
    user = PageUser(session=session, token=token)
    if not session.must_change_password:
        async with user.transaction(request.app.state.pool) as conn:
            whoami = orjson.loads(await conn.fetchval("select api.whoami()::text"))
            user.teams = list(await conn.fetchval("select api.my_teams()"))
        user.roles = whoami["roles"]
        user.is_platform_admin = bool(whoami["is_platform_admin"])
    return user


def page_path(request: Request) -> str:
    """The path the browser asked for (before the routing prefix)."""
    path = request.scope.get("aigw.page_path", request.url.path.removeprefix(PAGES_PREFIX))
    return path + (f"?{request.url.query}" if request.url.query else "")


# -- rendering -----------------------------------------------------------------------------


def render(
    request: Request,
    name: str,
    user: PageUser | None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    public_csrf = None
    if user is None:
        public_csrf = request.cookies.get(CSRF_COOKIE) or ""
        if not _valid_public_token(public_csrf):
            public_csrf = secrets.token_urlsafe(32)
    flash = unquote(request.cookies.get(FLASH_COOKIE, ""))[:300]
    html = templates.get_template(name).render(
        request_path=page_path(request).split("?")[0],
        me=user,
        csrf=user.csrf if user else public_csrf,
        admin_nav=ADMIN_NAV,
        flash=flash,
        oidc=getattr(request.app.state, "oidc", None) is not None,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    if public_csrf and request.cookies.get(CSRF_COOKIE) != public_csrf:
        response.set_cookie(
            CSRF_COOKIE,
            public_csrf,
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request),
            path="/",
        )
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def see_other(request: Request, path: str, notice: str | None = None) -> RedirectResponse:
    """After a successful form: back to a page (POST/redirect/GET), with a notice."""
    response = RedirectResponse(path, status_code=303)
    if notice:
        response.set_cookie(
            FLASH_COOKIE,
            quote(notice[:300]),
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request),
            path="/",
            max_age=60,
        )
    return response


def _valid_public_token(value: str) -> bool:
    return 32 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


# -- forms ---------------------------------------------------------------------------------


class FormError(Exception):
    """A form value refused before anything ran: said on the page, with this status."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


class Form:
    """A submitted form, read with bounds: every value is text without NUL and at most
    `max_length` characters, or the whole form is refused with a message."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.values: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {}
        for key, value in pairs:
            self.values.setdefault(key, value)
            self.lists.setdefault(key, []).append(value)

    def get(self, name: str, label: str, *, required: bool = True, max_length: int = 254):
        value = self.values.get(name, "").strip()
        if "\x00" in value or any(ord(c) < 0x20 and c not in "\t\r\n" for c in value):
            raise FormError(f"{label}: control characters are not allowed.")
        if len(value) > max_length:
            raise FormError(f"{label}: at most {max_length} characters.")
        if required and not value:
            raise FormError(f"{label}: required.")
        return value or None

    def secret(self, name: str, label: str, *, max_length: int = 1024) -> str:
        """A password: not stripped (spaces may be part of it)."""
        value = self.values.get(name, "")
        if "\x00" in value:
            raise FormError(f"{label}: control characters are not allowed.")
        if len(value) > max_length:
            raise FormError(f"{label}: at most {max_length} characters.")
        return value

    def flag(self, name: str) -> bool:
        return self.values.get(name) in ("on", "true", "1", "yes")


async def read_form(request: Request) -> Form:
    try:
        body = await read_limited(request, FORM_LIMIT_BYTES)
    except BodyRefused:
        raise FormError("The form is too large.", 413) from None
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=100
        )
    except (UnicodeDecodeError, ValueError):
        message = "The form could not be read (not UTF-8, or too many fields)."
        raise FormError(message, 400) from None
    return Form(pairs)


def same_origin(request: Request) -> bool:
    """A browser names the page a form came from in Origin: it must be this site."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def csrf_ok(request: Request, form: Form, user: PageUser | None) -> bool:
    sent = form.values.get("csrf", "")
    if not same_origin(request) or not sent:
        return False
    if user is not None:
        expected = user.csrf
    else:
        expected = request.cookies.get(CSRF_COOKIE, "")
        if not _valid_public_token(expected):
            return False
    return hmac.compare_digest(sent.encode(), expected.encode())


FORGED = (
    "This form was refused: its security token is missing or stale, or it came from another "
    "site. Reload the page and submit it again."
)


# -- page routes ---------------------------------------------------------------------------

View = Callable[..., Awaitable[Response]]


def database_message(exc: asyncpg.PostgresError) -> tuple[int, str]:
    status = errors.http_status(exc.sqlstate)
    if status >= 500:
        return status, "The server failed to do this; it has been logged."
    message = str(exc.args[0]) if exc.args else "refused"
    message = message[:1].upper() + message[1:]
    if hint := getattr(exc, "hint", None):
        message += f". {hint}"
    elif not message.endswith("."):
        message += "."
    return status, message


class Pages:
    """Registers pages on a router: `get` pages that need a signed-in user (the forced
    password change first), and `post` form handlers that also check the CSRF token and,
    when refused, render `view` again with the message and the right status. Whatever
    else goes wrong is logged and answered with an error page, never a traceback."""

    def __init__(self, router: APIRouter):
        self.router = router

    def get(self, path: str, *, public: bool = False):
        def register(handler: View) -> View:
            async def endpoint(request: Request) -> Response:
                user = await signed_in(request)
                if public:
                    return await handler(request, user)
                if (gate := gate_for(request, user)) is not None:
                    return gate
                try:
                    return await handler(request, user)
                except asyncpg.PostgresError as exc:
                    status, message = database_message(exc)
                    return render(request, "error.html", user, status=status, message=message)

            self.router.add_api_route(
                path, guarded(endpoint), methods=["GET", "HEAD"], response_class=HTMLResponse
            )
            return handler

        return register

    def post(
        self, path: str, *, view: View | None = None, public: bool = False, gated: bool = True
    ):
        def register(handler: Callable[..., Awaitable[Response]]):
            async def endpoint(request: Request) -> Response:
                user = None if public else await signed_in(request)
                if not public and user is None:
                    return session_ended(request)
                try:
                    form = await read_form(request)
                except FormError as exc:
                    return render(request, "error.html", user, status=exc.status, message=str(exc))
                if not csrf_ok(request, form, user):
                    return render(request, "error.html", user, status=403, message=FORGED)
                if not public and gated and (gate := gate_for(request, user)) is not None:
                    return gate
                try:
                    return await handler(request, user, form)
                except (FormError, asyncpg.PostgresError, ApiProblem) as exc:
                    if isinstance(exc, FormError):
                        status, message = exc.status, str(exc)
                    elif isinstance(exc, ApiProblem):
                        status, message = exc.status, exc.message
                    else:
                        status, message = database_message(exc)
                    if view is None:
                        return render(request, "error.html", user, status=status, message=message)
                    return await view(request, user, error=message, status=status, form=form.values)

            self.router.add_api_route(
                path, guarded(endpoint), methods=["POST"], response_class=HTMLResponse
            )
            return handler

        return register


def guarded(endpoint: Callable[[Request], Awaitable[Response]]):
    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception:  # an error page for the browser, the traceback for the log
            log.exception("page %s failed", page_path(request))
            message = "The server failed to show this page; it has been logged."
            return render(request, "error.html", None, status=500, message=message)

    return run


def session_ended(request: Request) -> Response:
    """A form posted after the session ended (expired, signed out elsewhere): nothing was
    done; back to the page it came from once signed in again."""
    referer = urlsplit(request.headers.get("referer", ""))
    same_site = referer.netloc == request.headers.get("host", "")
    back = (
        safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))
        if same_site
        else "/"
    )
    return render(
        request,
        "error.html",
        None,
        status=401,
        message="Your session has ended, so nothing was saved. Sign in again and resubmit.",
        sign_in="/login?" + urlencode({"next": back}),
    )


def gate_for(request: Request, user: PageUser | None) -> Response | None:
    """Not signed in: to the sign-in page. Must change the password: that form, whatever
    page was asked for."""
    if user is None:
        target = "/login?" + urlencode({"next": safe_next(page_path(request))})
        if request.headers.get("hx-request") == "true":
            # htmx would swap the sign-in page into a fragment; make it a full navigation
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    if user.session.must_change_password:
        return render(
            request,
            "change_password.html",
            user,
            status=HTTPStatus.FORBIDDEN,
            next=safe_next(page_path(request)),
        )
    return None


# -- lists: filtered and paginated by the database -----------------------------------------


@dataclass
class Page:
    rows: list[dict]
    total: int
    number: int
    size: int
    query: str

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.size))

    def link(self, number: int, **extra: str) -> str:
        params = {k: v for k, v in {"q": self.query, **extra}.items() if v}
        params["page"] = str(number)
        return "?" + urlencode(params)


def page_number(request: Request, name: str = "page") -> int:
    raw = request.query_params.get(name, "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else 1


def search_text(request: Request, name: str = "q") -> str:
    value = request.query_params.get(name, "")[:100]
    return "".join(c for c in value if c.isprintable())


async def paged(
    conn: asyncpg.Connection,
    source: str,
    args: tuple = (),
    *,
    search: tuple[str, ...],
    order: str,
    query: str = "",
    number: int = 1,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of an api.* function's rows, filtered by `query` (a case-insensitive
    substring of any `search` column) in the database. `source`, `search` and `order` are
    this module's constants; the caller's values are parameters only."""
    params: list[Any] = list(args)
    where = ""
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params.append(pattern)
        where = "where " + " or ".join(f"s.{c}::text ilike ${len(params)}" for c in search)
    params += [size, (number - 1) * size]
    # The interpolated parts are this module's constants; every value is a parameter.
    limit, offset = f"${len(params) - 1}", f"${len(params)}"
    sql = f"select s.*, count(*) over () as total_rows from ({source}) s {where} "  # noqa: S608
    sql += f"order by {order} limit {limit} offset {offset}"
    rows = [dict(r) for r in await conn.fetch(sql, *params)]
    total = rows[0].pop("total_rows") if rows else 0
    for row in rows[1:]:
        row.pop("total_rows")
    return Page(rows, total, number, size, query)


def not_found_router() -> APIRouter:
    """Registered last: a page path with no page (or no form handler) gets a page saying
    so, not the JSON API's 404."""
    router = APIRouter()

    async def no_such_page(request: Request) -> Response:
        user = await signed_in(request)
        return render(request, "error.html", user, status=404, message="There is no such page.")

    router.add_api_route(
        "/{rest:path}", guarded(no_such_page), methods=["GET", "POST"], response_class=HTMLResponse
    )
    return router
