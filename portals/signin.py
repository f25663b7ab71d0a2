"""Sign-in pages: /login (password, and the SSO button when single sign-on is on), /logout,
the forced first-login password change (/account/password), and the invitation link
(/auth/invitations/accept#token=…).

Each form calls the /auth route functions themselves (api/auth/login.py,
api/auth/invitations.py), so throttling, auditing, the password policy and the session
rules are the API's, not a second copy of them.
"""

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.auth import invitations, login, password_policy
from api.auth.errors import ApiProblem
from api.auth.sso_state import safe_next
from portals.web import Form, FormError, Pages, PageUser, render, see_other

router = APIRouter()
pages = Pages(router)


def home_of(user: PageUser) -> str:
    return "/admin" if user.is_admin or "viewer" in user.role_names else "/portal"


def with_cookies(source: Response, target: Response) -> Response:
    """Carry the session cookie an /auth function set onto the page's redirect."""
    for name, value in source.raw_headers:
        if name == b"set-cookie":
            target.raw_headers.append((name, value))
    target.headers["Cache-Control"] = "no-store"
    return target


@pages.get("/", public=True)
async def root(request: Request, user: PageUser | None) -> Response:
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(home_of(user), status_code=303)


async def login_view(
    request: Request,
    user: PageUser | None,
    *,
    error: str | None = None,
    status: int = 200,
    form: dict | None = None,
) -> Response:
    form = form or {}
    next_path = safe_next(form.get("next") or request.query_params.get("next", "/"))
    sso = "/auth/oidc/login?" + urlencode({"next": next_path})
    return render(
        request,
        "login.html",
        None,
        status=status,
        error=error,
        email=form.get("email", ""),
        next=next_path,
        sso_url=sso,
    )


@pages.get("/login", public=True)
async def login_page(request: Request, user: PageUser | None) -> Response:
    if user is not None and not user.session.must_change_password:
        next_path = safe_next(request.query_params.get("next", "/"))
        return RedirectResponse(next_path if next_path != "/" else home_of(user), status_code=303)
    return await login_view(request, None)


@pages.post("/login", view=login_view, public=True)
async def login_submit(request: Request, user: None, form: Form) -> Response:
    email = form.get("email", "Email")
    password = form.secret("password", "Password")
    if not password:
        raise FormError("Password: required.")
    session = Response()
    try:
        body = login.LoginRequest(
            email=email, password=password, stay_signed_in=form.flag("stay_signed_in")
        )
    except ValidationError:
        raise FormError("Email or password is too long.") from None
    await login.login(body, request, session)
    next_path = safe_next(form.get("next", "next", required=False, max_length=2048))
    return with_cookies(session, RedirectResponse(next_path, status_code=303))


@pages.post("/logout", gated=False)
async def logout_submit(request: Request, user: PageUser, form: Form) -> Response:
    ended = await login.logout(request, user.session)
    return with_cookies(ended, see_other(request, "/login", "You are signed out."))


async def change_view(
    request: Request, user: PageUser, *, error=None, status=200, form=None
) -> Response:
    form = form or {}
    return render(
        request,
        "change_password.html",
        user,
        status=status,
        error=error,
        next=safe_next(form.get("next", "/")),
    )


@pages.post("/account/password", view=change_view, gated=False)
async def change_submit(request: Request, user: PageUser, form: Form) -> Response:
    current = form.secret("current_password", "Current password")
    new = form.secret("new_password", "New password")
    if new != form.secret("confirm_password", "Repeat the new password"):
        raise FormError("The two new passwords differ.")
    # The same checks as POST /auth/change-password: current password (throttled like a
    # login), the policy, then every session of the user ends.
    await login.change_password(
        login.ChangePasswordRequest(current_password=current, new_password=new),
        request,
        user.session,
    )
    session = Response()
    await login.open_session(
        request, session, user.session.user_id, stay=form.flag("stay_signed_in"), method="password"
    )
    next_path = safe_next(form.get("next", "next", required=False, max_length=2048))
    # The new session's cookie replaces the old one (which change_password ended).
    return with_cookies(session, see_other(request, next_path, "Password changed."))


async def accept_view(
    request: Request, user: PageUser | None, *, error=None, status=200, form=None
) -> Response:
    form = form or {}
    return render(
        request,
        "accept_invitation.html",
        None,
        status=status,
        error=error,
        display_name=form.get("display_name", ""),
        token=form.get("token", ""),
        rule=password_policy.MIN_LENGTH,
    )


@pages.get("/auth/invitations/accept", public=True)
async def accept_page(request: Request, user: PageUser | None) -> Response:
    return await accept_view(request, None)


@pages.post("/auth/invitations/accept", view=accept_view, public=True)
async def accept_submit(request: Request, user: None, form: Form) -> Response:
    token = form.get("token", "Invitation token", max_length=100)
    display_name = form.get("display_name", "Your name", required=False, max_length=200)
    password = form.secret("password", "Password")
    if password != form.secret("confirm_password", "Repeat the password"):
        raise FormError("The two passwords differ.")
    session = Response()
    try:
        await invitations.accept_invitation(
            invitations.AcceptRequest(token=token, password=password, display_name=display_name),
            request,
            session,
        )
    except ApiProblem as exc:
        if exc.code == "bad_token":
            raise FormError(
                "This invitation link is unknown, already used, revoked or expired: ask the "
                "person who invited you for a new one.",
                404,
            ) from None
        raise
    return with_cookies(session, see_other(request, "/", "Welcome: your account is ready."))
