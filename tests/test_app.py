"""The HTTP process over real PostgreSQL and Redis, served by uvicorn on a local port."""

import httpx
import pytest

from api.app import create_app, from_environment
from api.embedded import free_port
from api.settings import MissingSettingsError
from tests.helpers import serving


def test_healthz_is_200_when_database_and_redis_answer(db, redis_url):
    with serving(create_app(db.app, redis_url)) as base:
        response = httpx.get(f"{base}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_is_503_and_names_the_dependency_that_is_down(db):
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    with serving(create_app(db.app, dead_redis)) as base:
        response = httpx.get(f"{base}/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["redis"].startswith("error: ")


def test_openapi_documents_the_health_endpoint(db, redis_url):
    with serving(create_app(db.app, redis_url)) as base:
        schema = httpx.get(f"{base}/openapi.json").json()
    assert "/healthz" in schema["paths"]


def test_cloud_mode_without_settings_is_a_startup_error(monkeypatch):
    for name in ("DATABASE_URL", "AIGW_APP_DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIGW_ENV", "cloud")
    with pytest.raises(MissingSettingsError) as missing:
        from_environment()
    assert "REDIS_URL" in missing.value.names
    assert "AIGW_APP_DATABASE_URL" in missing.value.names
