"""Runtime settings from the environment.

Locally every setting may be missing: the CLI then starts what it needs (embedded
PostgreSQL, embedded Redis). With AIGW_ENV=cloud a missing required setting is a startup
error instead of a silent default.
"""

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# What a cloud deployment must be given; each is read from the variable of the same name.
CLOUD_REQUIRED_TO_SERVE = (
    "DATABASE_URL",
    "AIGW_APP_DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "OIDC_ISSUER",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    aigw_env: Literal["local", "cloud"] = "local"
    # Administrative connection: migrations and operator commands.
    database_url: str | None = None
    # The services' connection (login role aigw_app). Derived from DATABASE_URL locally.
    app_database_url: str | None = Field(default=None, alias="AIGW_APP_DATABASE_URL")
    redis_url: str | None = None
    # where request events wait while the database is unreachable (default: the user
    # data directory's spool/)
    spool_dir: Path | None = Field(default=None, alias="AIGW_SPOOL_DIR")
    # postgres (default): events queue in the database (events.queue); servicebus: in an
    # Azure Service Bus queue. The event consumer drains either into events.requests.
    events_transport: Literal["postgres", "servicebus"] = Field(
        default="postgres", alias="AIGW_EVENTS_TRANSPORT"
    )
    # in-process (default): each gateway process also runs the consumer of the postgres
    # queue; external: `aigw events consume` runs on its own (always so for servicebus)
    events_consumer: Literal["in-process", "external"] = Field(
        default="in-process", alias="AIGW_EVENTS_CONSUMER"
    )
    servicebus_connection_string: str | None = Field(
        default=None, alias="AZURE_SERVICEBUS_CONNECTION_STRING"
    )
    events_queue: str = Field(default="aigw-events", alias="AIGW_EVENTS_QUEUE")
    # The HTTP server's deadlines (api/server.py): a request's headers must arrive within
    # header_timeout_s, its body within body_timeout_s after them (60 s: 32 MiB, the
    # largest body taken, at 4.5 Mbit/s); an idle connection closes after
    # keep_alive_timeout_s.
    header_timeout_s: float = Field(default=10, gt=0, alias="AIGW_HEADER_TIMEOUT_S")
    body_timeout_s: float = Field(default=60, gt=0, alias="AIGW_BODY_TIMEOUT_S")
    keep_alive_timeout_s: float = Field(default=5, gt=0, alias="AIGW_KEEPALIVE_TIMEOUT_S")
    secret_key: str | None = None
    # How long a principal cached before the database went away is still served while it
    # is away (nobody can revoke a key meanwhile); teams with a budget fail closed anyway.
    auth_stale_s: float = Field(default=300.0, alias="AIGW_AUTH_STALE_S", ge=0)
    # How long a Redis call may take before the gateway serves without Redis for a moment
    # (rate limits on a per-process share, the exact cache bypassed).
    redis_timeout_s: float = Field(default=0.5, gt=0, alias="AIGW_REDIS_TIMEOUT_S")
    # The bearer token a Prometheus scraper presents on /metrics; unset: this host only.
    metrics_token: str | None = Field(default=None, alias="AIGW_METRICS_TOKEN")
    # `aigw up` rebuilds the analytics marts this often (seconds; 0: never, e.g. when a
    # scheduled job runs `aigw analytics run` instead).
    analytics_refresh_s: float = Field(default=300.0, alias="AIGW_ANALYTICS_REFRESH_S", ge=0)
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None

    oidc_audience: str | None = None  # default: the client id
    oidc_jwks_url: str | None = None  # default: from the issuer's OpenID configuration
    # Single sign-on (/auth/oidc). The callback URL registered with the identity provider;
    # default: /auth/oidc/callback on the origin the browser used.
    oidc_redirect_url: str | None = None
    # The role of a user created by their first single sign-on; "none": only existing
    # (invited or created) accounts may sign in.
    oidc_default_role: str = "developer"
    oidc_scopes: str = "openid email profile"
    # Comma-separated tenant ids a multi-tenant issuer's users may come from.
    oidc_allowed_tenants: str = ""

    def token_settings(self):
        """Identity tokens are accepted by the gateway when an issuer is configured."""
        from api.gateway.tokens import TokenSettings

        audience = self.oidc_audience or self.oidc_client_id
        if not self.oidc_issuer or not audience:
            return None
        return TokenSettings(self.oidc_issuer, audience, self.oidc_jwks_url)

    def oidc_settings(self):
        """Single sign-on is on when an issuer and a client id are configured."""
        from api.auth.oidc_provider import OidcSettings

        if not self.oidc_issuer or not self.oidc_client_id:
            return None
        # Signs the login-state cookie. Without SECRET_KEY (locally only: the cloud requires
        # it) a key per process: logins in flight do not survive a restart, and several
        # processes behind one address would refuse each other's callbacks.
        state_secret = self.secret_key.encode() if self.secret_key else secrets.token_bytes(32)
        role = self.oidc_default_role.strip()
        return OidcSettings(
            issuer=self.oidc_issuer,
            client_id=self.oidc_client_id,
            client_secret=self.oidc_client_secret or None,
            state_secret=state_secret,
            redirect_url=self.oidc_redirect_url or None,
            default_role=None if role.lower() in ("", "none") else role,
            scopes=self.oidc_scopes,
            allowed_tenants=frozenset(
                t.strip() for t in self.oidc_allowed_tenants.split(",") if t.strip()
            ),
        )

    @property
    def is_cloud(self) -> bool:
        return self.aigw_env == "cloud"

    def missing(self, names: tuple[str, ...]) -> list[str]:
        values = {
            "DATABASE_URL": self.database_url,
            "AIGW_APP_DATABASE_URL": self.app_database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": self.secret_key,
            "OIDC_ISSUER": self.oidc_issuer,
            "OIDC_CLIENT_ID": self.oidc_client_id,
            "OIDC_CLIENT_SECRET": self.oidc_client_secret,
        }
        return [name for name in names if not values[name]]


class MissingSettingsError(RuntimeError):
    def __init__(self, names: list[str]):
        self.names = names
        super().__init__(
            "AIGW_ENV=cloud needs these settings, which are not set: "
            + ", ".join(names)
            + ". Set them in the environment (e.g. from Key Vault secret references)."
        )


def load() -> Settings:
    return Settings()
