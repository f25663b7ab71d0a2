"""The HTTP server's limits, over real sockets against the real app: a body over its
surface's limit is refused before it is read, and slow headers, slow bodies and idle
connections are timed out (api/request_bodies.py, api/server.py)."""

import asyncio
import contextlib
import http.client
import json
import socket
import time

import httpx
import psutil
import pytest

from api.app import create_app
from api.gateway.accounting import MemorySink
from api.request_bodies import AdminRoute, JsonRoute, SignInRoute
from api.server import MAX_HEADER_BYTES, Deadlines
from tests.helpers import app_routes

FAST = Deadlines(header_s=1, body_s=2, keep_alive_s=1)
SLACK_S = 1.5  # for a loaded two-core machine
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


def parse(raw: bytes) -> tuple[int, dict]:
    """Status and JSON body of one raw HTTP/1.1 response (read until the server closed)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


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


def test_headers_over_the_cap_are_431_in_the_dialect_of_the_path(gateway):
    huge = "x" * (MAX_HEADER_BYTES + 1)
    for path in ("/auth/me", "/v1/models", "/anthropic/v1/messages"):
        with socket.create_connection(address(gateway), timeout=5) as sock:
            sock.sendall(request_head(path, f"x-padding: {huge}", method="GET"))
            status, headers, body = read_response(sock)
            assert status == 431 and headers["connection"] == "close"
            assert in_dialect(path, body, "request_header_fields_too_large"), body
            assert sock.recv(1) == b""  # closed
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200


# -- deadlines -----------------------------------------------------------------------------


async def until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """What the server sent before it closed the connection, or TimeoutError."""
    with contextlib.suppress(ConnectionResetError):
        return await asyncio.wait_for(reader.read(), timeout)
    return b""


@pytest.mark.parametrize("gateway", [FAST], indirect=True)
async def test_slow_clients_are_answered_408_in_their_dialect_and_disconnected(gateway):
    host, port = address(gateway)
    give_up_s = FAST.body_s + SLACK_S + 1  # bounded, whatever the server does

    async def trickle_body(path: str) -> tuple[str, float, bytes]:
        """Headers at once, then one byte a second of a 1,000-byte body."""
        reader, writer = await asyncio.open_connection(host, port)
        head = request_head(path, "content-length: 1000", *key_headers(gateway, path))
        writer.write(head)
        started = time.monotonic()

        async def dribble():
            with contextlib.suppress(ConnectionError):
                while True:
                    writer.write(b" ")
                    await writer.drain()
                    await asyncio.sleep(1)

        sender = asyncio.create_task(dribble())
        try:
            answer = await until_closed(reader, give_up_s)
        except TimeoutError:
            answer = b""
        finally:
            sender.cancel()
            writer.close()
        return path, time.monotonic() - started, answer

    paths = ["/auth/login", "/admin/teams", "/v1/chat/completions", "/anthropic/v1/messages"]
    clients = [trickle_body(paths[i % len(paths)]) for i in range(200)]
    results = await asyncio.gather(*clients)

    late = [(path, round(took, 1)) for path, took, _ in results if took > FAST.body_s + SLACK_S]
    assert late == []
    assert min(took for _, took, _ in results) >= FAST.body_s - 0.1
    for path, _, answer in results:
        status, body = parse(answer)
        assert status == 408 and in_dialect(path, body, "request_timeout"), (path, body)
    # The model endpoints recorded each of theirs as a client gone (499).
    deadline = time.monotonic() + 5
    while len(gateway.events.events) < 100:
        assert time.monotonic() < deadline, len(gateway.events.events)
        await asyncio.sleep(0.05)
    assert {(e.status, e.error_type) for e in gateway.events.events} == {
        (499, "client_disconnected")
    }
    # The server is as good as new.
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200


@pytest.mark.parametrize("gateway", [FAST], indirect=True)
async def test_a_client_slow_with_its_headers_is_cut_off_at_the_header_deadline(gateway):
    host, port = address(gateway)

    async def connect_and_send(first_bytes: bytes) -> tuple[float, bytes]:
        reader, writer = await asyncio.open_connection(host, port)
        started = time.monotonic()
        writer.write(first_bytes)  # and nothing more
        try:
            answer = await until_closed(reader, 5)
        finally:
            writer.close()
        return time.monotonic() - started, answer

    silent, partial = await asyncio.gather(
        connect_and_send(b""),
        connect_and_send(b"POST /anthropic/v1/messages HTTP/1.1\r\nhost: aigw\r\nx-slow: "),
    )
    assert silent[1] == b""  # nothing to answer: just closed
    status, body = parse(partial[1])
    assert status == 408 and in_dialect("/anthropic", body, "request_timeout"), body
    for took, _ in (silent, partial):
        assert took <= FAST.header_s + SLACK_S


@pytest.mark.parametrize("gateway", [FAST], indirect=True)
def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(gateway):
    host, port = address(gateway)
    connection = http.client.HTTPConnection(host, port, timeout=5)
    for _ in range(2):  # requests on one kept-alive connection, each within the timeout
        connection.request("GET", "/healthz")
        answer = connection.getresponse()
        assert answer.status == 200 and answer.getheader("connection") != "close"
        answer.read()
        time.sleep(FAST.keep_alive_s / 2)
    sock, idle_since = connection.sock, time.monotonic() - FAST.keep_alive_s / 2
    assert sock.recv(1) == b""  # closed by the server
    assert time.monotonic() - idle_since <= FAST.keep_alive_s + SLACK_S
    connection.close()

    # A further request that stalls in its headers has the header deadline of its own.
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(request_head("/healthz", method="GET"))
        status, _, _ = read_response(sock)
        assert status == 200
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: aigw\r\n")
        started = time.monotonic()
        status, _, body = read_response(sock)
        assert time.monotonic() - started <= FAST.header_s + SLACK_S
        assert status == 408 and in_dialect("/v1", body, "request_timeout"), body


@pytest.mark.parametrize("gateway", [FAST], indirect=True)
def test_an_answer_slower_than_the_body_deadline_is_not_cut_off(gateway):
    """The deadlines bound what the client sends, not the time the answer takes."""
    gateway.mock.latency_s = FAST.body_s + 1
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {gateway.key}"},
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"]
