"""Body limits, over real sockets against the real app: a body over its surface's limit
is refused before it is read (api/request_bodies.py)."""

import http.client
import json
import socket

import psutil
import pytest

from api.app import create_app
from api.gateway.accounting import MemorySink
from api.request_bodies import AdminRoute, JsonRoute, SignInRoute
from tests.helpers import app_routes

FORTY_MB = 40_000_000
CHUNK = 16 * 1024
LIMITED = [("/auth/login", SignInRoute.max_body_bytes), ("/admin/teams", AdminRoute.max_body_bytes)]


def address(gateway) -> tuple[str, int]:
    host, port = gateway.url.removeprefix("http://").split(":")
    return host, int(port)


def request_head(path: str, *headers: str, method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: aigw", "content-type: application/json"]
    return ("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], dict]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    headers = {name.lower(): value for name, value in response.getheaders()}
    return response.status, headers, json.loads(response.read())


def in_dialect(path: str, body: dict, code: str) -> bool:
    if path.startswith("/anthropic"):
        return body["type"] == "error" and set(body["error"]) == {"type", "message"}
    return set(body) == {"error"} and body["error"]["code"] == code


def key_headers(gateway, path: str) -> tuple[str, ...]:
    if path.startswith("/v1"):
        return (f"authorization: Bearer {gateway.key}",)
    if path.startswith("/anthropic"):
        return (f"x-api-key: {gateway.key}",)
    return ()


# -- body limits ---------------------------------------------------------------------------


def test_every_route_that_fastapi_reads_a_body_for_has_a_limit():
    """/auth and /admin read theirs through a JsonRoute; every other route takes none as
    FastAPI sees it: the model endpoints read theirs themselves (32 MiB, openai_api.py)."""
    app = create_app("postgresql://unused", "redis://unused", events=MemorySink())
    unlimited = [
        f"{sorted(methods)} {path}"
        for path, methods, route in app_routes(app)
        if getattr(route, "body_field", None) is not None and not isinstance(route, JsonRoute)
    ]
    assert unlimited == []
    surfaces = [route for path, _, route in app_routes(app) if path.startswith(("/auth", "/admin"))]
    assert len(surfaces) > 40 and all(isinstance(route, JsonRoute) for route in surfaces)


def test_a_declared_body_over_the_limit_is_413_at_once_in_each_dialect(gateway):
    paths = [path for path, _ in LIMITED] + ["/v1/chat/completions", "/anthropic/v1/messages"]
    for path in paths:
        with socket.create_connection(address(gateway), timeout=5) as sock:
            # Only the headers: an answer that waited for the body would never come.
            sock.sendall(
                request_head(path, f"content-length: {FORTY_MB}", *key_headers(gateway, path))
            )
            status, _, body = read_response(sock)
        assert status == 413, (path, body)
        assert in_dialect(path, body, "request_too_large"), (path, body)


def test_a_chunked_body_is_cut_off_just_past_the_limit_and_never_read_whole(gateway):
    server = psutil.Process()  # the server runs in this process, in a thread
    chunk = b"%x\r\n%s\r\n" % (CHUNK, b" " * CHUNK)
    for path, limit in LIMITED:
        memory_before = server.memory_info().rss
        with socket.create_connection(address(gateway), timeout=5) as sock:
            sock.sendall(request_head(path, "transfer-encoding: chunked"))
            for _ in range(limit // CHUNK + 1):  # the last of these passes the limit
                sock.sendall(chunk)
            status, headers, body = read_response(sock)  # before sending any more
            assert status == 413 and in_dialect(path, body, "request_too_large"), body
            assert headers["connection"] == "close"
            # The connection ends with the answer: the rest of 40 MB finds it closed.
            with pytest.raises(OSError):
                for _ in range(FORTY_MB // CHUNK):
                    sock.sendall(chunk)
        assert server.memory_info().rss - memory_before < 8 * 2**20
