"""The /auth surface: sign-in (password, SSO), sessions, invitations, service accounts and
user administration. Every decision about who may do what is made by the database (RLS
and api.* functions); these routers only authenticate and translate."""

from fastapi import APIRouter

from api.auth import invitations, login, oidc, service_accounts, users

router = APIRouter(prefix="/auth")
router.include_router(login.router)
router.include_router(oidc.router)
router.include_router(invitations.router)
router.include_router(service_accounts.router)
router.include_router(users.router)
