"""What the gateway adds, beside LiteLLM proxy and a bare pass-through, in one run.

    .venv/bin/python -m tests.perf.bench_gateway            # installs LiteLLM proxy on first run

Layout: each target (aigw, LiteLLM proxy, and two bare pass-throughs with no features,
one on httpx and one on aiohttp, the client aigw forwards with) runs alone, one process,
pinned to CPU 0; the mock provider, the load generators (this
process, and wrk), PostgreSQL and Redis share CPU 1. Everything talks over loopback.

(a) sequential added latency: direct-to-mock and through-target calls interleaved,
    7 rounds x 25 after warm-up; the median of the rounds' median differences
    (the llm-gateway-bench method).
(b) requests/s at saturation (wrk, 32 connections, 10 s), and added p50/p99 at a fixed
    200 req/s (an open-loop generator; added = target minus direct, same rate).
(c) streaming, 64 chunks 2 ms apart: added time to first token, added inter-chunk gap.
(d) the translated path: an Anthropic-format call to an OpenAI-format deployment, added
    latency sequentially (aigw /anthropic/v1/messages; LiteLLM proxy /v1/messages).

The load generator (this process) pauses its own garbage collector while it times
requests: its full collections (40-60 ms here) would otherwise land on whichever target
is under test at that moment.

aigw runs with what a team would have on: key authentication, a team RPM limit (leased
from Redis), the event log and metrics; no budget, cache off. Its events take the
production layout: the gateway only queues them (batched COPY into events.queue) and the
event consumer runs as a job of its own (`aigw events consume`, on CPU 1 with the database).
LiteLLM proxy runs with its master key (in memory) and no database.
"""

import argparse
import asyncio
import http.client
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from api import migrations
from api.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from tests.perf.harness import collector_paused, pct, pin, process

console = Console(width=150)
BIN = Path(sys.executable).parent
LITELLM_VENV = Path(
    os.environ.get("AIGW_BENCH_LITELLM_VENV", Path.home() / ".cache/aigw-bench/litellm")
)
BODY = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "Summarise this quarter in one sentence."}],
    "max_tokens": 64,
}
ANTHROPIC_BODY = {**BODY}


# -- the upstream ---------------------------------------------------------------------------

ANSWER = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "A steady quarter, on plan."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
}


# LiteLLM proxy turns an Anthropic-format call to an OpenAI model into a Responses API call.
RESPONSE = {
    "id": "resp_bench",
    "object": "response",
    "created_at": 0,
    "status": "completed",
    "model": "gpt-4o",
    "output": [
        {
            "type": "message",
            "id": "msg_bench",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "A steady quarter, on plan.", "annotations": []}
            ],
        }
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
}


def fast_mock_main(port: int, chunks: int, chunk_delay_ms: float) -> None:
    """A minimal OpenAI-format provider on raw asyncio (HTTP/1.1 keep-alive): a canned
    answer, or a stream of `chunks` content chunks. aigw's own mock provider does far more
    per request (faults, tools, both dialects) and would be the bottleneck here."""
    whole = json.dumps(ANSWER).encode()
    responses = json.dumps(RESPONSE).encode()
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"

    def chunk(delta: dict, finish=None, usage=None) -> bytes:
        data = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
                "model": "gpt-4o",
                "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
        if usage:
            data["usage"] = usage
        line = b"data: " + json.dumps(data).encode() + b"\n\n"
        return b"%x\r\n%s\r\n" % (len(line), line)

    async def handle(reader, writer):
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in request.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length) if length else b""
                if request.startswith(b"GET"):
                    writer.write(head % 2 + b"{}")
                elif request.split(b" ", 2)[1].endswith(b"/responses"):
                    writer.write(head % len(responses) + responses)
                elif b'"stream": true' in body or b'"stream":true' in body:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                        b"transfer-encoding: chunked\r\n\r\n"
                    )
                    writer.write(chunk({"role": "assistant", "content": ""}))
                    for i in range(chunks):
                        await asyncio.sleep(chunk_delay_ms / 1000)
                        writer.write(chunk({"content": f"word{i} "}))
                    writer.write(chunk({}, "stop"))
                    writer.write(chunk({}, usage=ANSWER["usage"]))
                    done = b"data: [DONE]\n\n"
                    writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
                else:
                    writer.write(head % len(whole) + whole)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


# -- targets --------------------------------------------------------------------------------


def passthrough_main(port: int, upstream: str, client: str = "httpx") -> None:
    """The floor: forward the body to the provider, stream the answer back, nothing else.
    With `client="aiohttp"`, the HTTP client aigw itself forwards with."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.responses import PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    forward = aiohttp_forwarder(upstream) if client == "aiohttp" else httpx_forwarder(upstream)

    async def chat(request):
        chunks, status, media_type, close = await forward(await request.body())
        return StreamingResponse(
            chunks, status_code=status, media_type=media_type, background=BackgroundTask(close)
        )

    async def health(request):
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/health", health),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def httpx_forwarder(upstream: str):
    client = httpx.AsyncClient(
        base_url=upstream, limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    )

    async def forward(body: bytes):
        request = client.build_request(
            "POST", "/v1/chat/completions", content=body, headers=JSON_HEADERS
        )
        response = await client.send(request, stream=True)
        media_type = response.headers.get("content-type")
        return response.aiter_raw(), response.status_code, media_type, response.aclose

    return forward


def aiohttp_forwarder(upstream: str):
    import aiohttp

    session: list[aiohttp.ClientSession] = []

    async def forward(body: bytes):
        if not session:  # created inside the server's event loop
            session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)))
        response = await session[0].post(
            upstream + "/v1/chat/completions", data=body, headers=JSON_HEADERS
        )
        media_type = response.headers.get("content-type")
        return response.content.iter_any(), response.status, media_type, response.release

    return forward


JSON_HEADERS = {"content-type": "application/json"}


def bare_passthrough_main(port: int, upstream: str) -> None:
    """The floor of a Python proxy on aigw's own stack: a bare ASGI app on uvicorn
    (httptools, uvloop) forwarding each whole body with aiohttp and answering the
    provider's bytes, with no framework, routing or work of any kind in between."""
    import aiohttp
    import uvicorn

    session: list[aiohttp.ClientSession] = []
    url = upstream + "/v1/chat/completions"

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/health":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if not session:  # created inside the server's event loop
            session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)))
        async with session[0].post(url, data=body, headers=JSON_HEADERS) as response:
            content = await response.read()
            status = response.status
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": content})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                http="httptools", loop="uvloop", lifespan="off")  # fmt: skip


def litellm_executable() -> Path:
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        with console.status(f"Installing LiteLLM proxy into {LITELLM_VENV} (once)…"):
            subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
            subprocess.run(
                [str(LITELLM_VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"],
                check=True,
            )
    return exe


def litellm_config(mock_url: str, path: Path) -> None:
    import yaml

    path.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "gpt-4o",
                        "litellm_params": {
                            "model": "openai/gpt-4o",
                            "api_base": f"{mock_url}/v1",
                            "api_key": "mock",
                        },
                    }
                ],
                "litellm_settings": {"drop_params": True},
            }
        )
    )


# -- measurements ---------------------------------------------------------------------------


class Caller:
    """Keep-alive HTTP/1.1 calls with the standard library: the least client overhead."""

    def __init__(self, base: str, headers: dict[str, str]):
        host, port = base.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.conn = http.client.HTTPConnection(*self.address, timeout=60)
        self.headers = {"content-type": "application/json", **headers}

    def _send(self, path: str, payload: bytes) -> http.client.HTTPResponse:
        """Send, reconnecting once if the server closed an idle keep-alive connection."""
        for attempt in (1, 2):
            try:
                self.conn.request("POST", path, payload, self.headers)
                return self.conn.getresponse()
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(*self.address, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def post(self, path: str, body: dict) -> float:
        payload = json.dumps(body).encode()
        started = time.perf_counter()
        response = self._send(path, payload)
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {data[:300]!r}")
        return elapsed

    def stream(self, path: str, body: dict) -> tuple[float, list[float]]:
        """Time to the first content chunk, and the gaps between content chunks (ms)."""
        payload = json.dumps({**body, "stream": True}).encode()
        started = time.perf_counter()
        response = self._send(path, payload)
        arrivals = []
        while line := response.readline():
            if line.startswith(b"data:") and has_content(line):
                arrivals.append(time.perf_counter())
        if response.status != 200 or not arrivals:
            raise RuntimeError(f"{path}: {response.status}, {len(arrivals)} chunks")
        gaps = [(b - a) * 1000 for a, b in zip(arrivals, arrivals[1:], strict=False)]
        return (arrivals[0] - started) * 1000, gaps


def has_content(line: bytes) -> bool:
    """A stream event that carries text (not the opening role chunk, usage or [DONE])."""
    try:
        data = json.loads(line[5:])
    except ValueError:
        return False
    choices = data.get("choices") or [{}]
    return bool((choices[0].get("delta") or {}).get("content"))


def sequential(direct: Caller, target: Caller, path: str, body: dict, direct_path: str) -> float:
    """Median over 7 rounds of (median through target - median direct), 25 calls each."""
    for _ in range(50):
        direct.post(direct_path, BODY)
        target.post(path, body)
    added = []
    for _ in range(7):
        d, t = [], []
        for _ in range(25):
            d.append(direct.post(direct_path, BODY))
            t.append(target.post(path, body))
        added.append(statistics.median(t) - statistics.median(d))
    return statistics.median(added)


def streaming(direct: Caller, target: Caller, path: str) -> tuple[float, float]:
    for _ in range(5):
        direct.stream("/v1/chat/completions", BODY)
        target.stream(path, BODY)
    ttft, gap = [], []
    for _ in range(5):
        dt, tt, dg, tg = [], [], [], []
        for _ in range(10):
            first, gaps = direct.stream("/v1/chat/completions", BODY)
            dt.append(first)
            dg.extend(gaps)
            first, gaps = target.stream(path, BODY)
            tt.append(first)
            tg.extend(gaps)
        ttft.append(statistics.median(tt) - statistics.median(dt))
        gap.append(statistics.mean(tg) - statistics.mean(dg))
    return statistics.median(ttft), statistics.median(gap)


def saturation(url: str, headers: dict[str, str], seconds: int = 10) -> float:
    header_lines = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(json.dumps(BODY))}\n"
            'wrk.headers["Content-Type"] = "application/json"\n' + header_lines
        )
    out = subprocess.run(
        [*pin(1), "wrk", "-t1", "-c32", f"-d{seconds}s", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    non_2xx = [line for line in out.splitlines() if "Non-2xx" in line]
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx[0]}")
    return float(next(line for line in out.splitlines() if "Requests/sec" in line).split()[-1])


async def fixed_rate(url: str, headers: dict, rate: int = 200, seconds: int = 10) -> list[float]:
    """Latencies (ms) of requests sent at a fixed rate, whatever the answers' pace."""
    latencies: list[float] = []
    async with httpx.AsyncClient(
        headers=headers, limits=httpx.Limits(max_connections=200), timeout=30
    ) as client:

        async def one():
            started = time.perf_counter()
            try:
                response = await client.post(url, json=BODY)
            except httpx.HTTPError:
                return  # counted below as a request not answered
            if response.status_code == 200:
                latencies.append((time.perf_counter() - started) * 1000)

        tasks = []
        start = time.perf_counter()
        for i in range(rate * seconds):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    if len(latencies) < 0.99 * rate * seconds:
        console.print(f"[yellow]{url}: only {len(latencies)} of {rate * seconds} answered[/]")
    return latencies


# -- the run --------------------------------------------------------------------------------


def measure(
    name: str,
    base: str,
    headers: dict,
    mock: str,
    results: dict,
    anthropic_path=None,
    settle=None,
):
    """(a) to (d) for one target; `settle()`, if given, runs after the saturation run, to
    let the target's background work (aigw's event consumer) catch up before latencies
    are measured again."""
    direct = Caller(mock, {})
    target = Caller(base, headers)
    r = results.setdefault(name, {})
    with console.status(f"{name}: sequential…"), collector_paused():
        r["sequential"] = sequential(
            direct, target, "/v1/chat/completions", BODY, "/v1/chat/completions"
        )
    with console.status(f"{name}: saturation…"):
        r["rps"] = saturation(f"{base}/v1/chat/completions", headers)
    if settle is not None:
        with console.status(f"{name}: settling after saturation…"):
            settle()
    with console.status(f"{name}: 200 req/s…"):
        with collector_paused():
            direct_lat = asyncio.run(fixed_rate(f"{mock}/v1/chat/completions", {}))
        with collector_paused():
            target_lat = asyncio.run(fixed_rate(f"{base}/v1/chat/completions", headers))
        r["p50"] = pct(target_lat, 0.5) - pct(direct_lat, 0.5)
        r["p99"] = pct(target_lat, 0.99) - pct(direct_lat, 0.99)
    with console.status(f"{name}: streaming…"), collector_paused():
        r["ttft"], r["gap"] = streaming(direct, target, "/v1/chat/completions")
    if anthropic_path:
        with console.status(f"{name}: translated path…"), collector_paused():
            try:
                r["translated"] = sequential(
                    direct,
                    target,
                    anthropic_path,
                    {**BODY, "max_tokens": 64},
                    "/v1/chat/completions",
                )
            except RuntimeError as exc:  # shown in the table instead of a figure
                r["translated_error"] = str(exc)[:200]
                console.print(f"[yellow]{name}: the translated path failed: {exc}[/]")


def recorded_events(admin_url: str, timeout_s: float = 60) -> tuple[int, int]:
    """(events recorded, events still queued) once the consumer has caught up."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(admin_url, autocommit=True) as conn:
        while True:
            queued = conn.execute("select count(*) from events.queue").fetchone()[0]
            if not queued or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        recorded = conn.execute("select count(*) from events.requests").fetchone()[0]
    return recorded, queued


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-litellm", action="store_true")
    sub = parser.add_subparsers(dest="command")
    pt = sub.add_parser("passthrough")
    pt.add_argument("--port", type=int, required=True)
    pt.add_argument("--upstream", required=True)
    pt.add_argument("--client", choices=["httpx", "aiohttp", "bare"], default="httpx")
    fm = sub.add_parser("mock")
    fm.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.command == "passthrough" and args.client == "bare":
        bare_passthrough_main(args.port, args.upstream)
        return
    if args.command == "passthrough":
        passthrough_main(args.port, args.upstream, args.client)
        return
    if args.command == "mock":
        fast_mock_main(args.port, chunks=64, chunk_delay_ms=2)
        return
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed for (b): apt-get install wrk")

    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("AIGW_ENV", None)
    results: dict[str, dict] = {}
    # Everything but the target under test runs on core 1: the mock, the load generator,
    # and PostgreSQL and Redis (which inherit this process's affinity), so that the
    # gateway on core 0 is measured alone, as it would be with its database elsewhere.
    if pin(1):
        os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory(prefix="aigw-bench-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg")
        redis_server = EmbeddedRedis(Path(tmp) / "redis")
        with console.status("Starting embedded PostgreSQL and Redis…"):
            urls = postgres.start()
            redis_url = redis_server.start()
            migrations.upgrade(urls.admin)
        with psycopg.connect(urls.admin, autocommit=True) as conn:
            conn.execute("select api.create_team('bench')")
            conn.execute("select api.set_team_policy('bench', null, 10000000, null)")
            key = conn.execute("select key from api.issue_key('bench', 'bench')").fetchone()[0]
        mock_port = free_port()
        mock = f"http://127.0.0.1:{mock_port}"
        mock_cmd = [*pin(1), sys.executable, "-m", "tests.perf.bench_gateway", "mock"]
        mock_cmd += ["--port", str(mock_port)]
        try:
            with process(mock_cmd, env, f"{mock}/health", "mock provider"):
                # aigw
                port = free_port()
                aigw_env = {
                    **env,
                    "DATABASE_URL": urls.admin,
                    "REDIS_URL": redis_url,
                    "AIGW_MOCK_PROVIDER_URL": mock,
                    "AIGW_SPOOL_DIR": str(Path(tmp) / "spool"),
                    "AIGW_EVENTS_CONSUMER": "external",
                }
                consumer = subprocess.Popen(
                    [*pin(1), str(BIN / "aigw"), "events", "consume"],
                    env=aigw_env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                cmd = [*pin(0), str(BIN / "uvicorn"), "--factory", "api.app:from_environment"]
                cmd += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
                try:
                    with process(cmd, aigw_env, f"http://127.0.0.1:{port}/healthz", "aigw"):
                        time.sleep(10)  # litellm is imported in the background at start
                        measure(
                            "aigw",
                            f"http://127.0.0.1:{port}",
                            {"authorization": f"Bearer {key}"},
                            mock,
                            results,
                            anthropic_path="/anthropic/v1/messages",
                            settle=lambda: recorded_events(urls.admin),
                        )
                    results["aigw"]["events"] = recorded_events(urls.admin)
                finally:
                    consumer.terminate()
                    consumer.wait(10)
                # the bare pass-throughs: httpx (the floor), and aiohttp (the client
                # aigw forwards with, so the floor of its own design)
                for client in ("httpx", "aiohttp"):
                    port = free_port()
                    cmd = [*pin(0), sys.executable, "-m", "tests.perf.bench_gateway"]
                    cmd += ["passthrough", "--port", str(port), "--upstream", mock]
                    cmd += ["--client", client]
                    with process(cmd, env, f"http://127.0.0.1:{port}/health", "pass-through"):
                        name = f"bare pass-through ({client})"
                        measure(name, f"http://127.0.0.1:{port}", {}, mock, results)
                # LiteLLM proxy
                if not args.skip_litellm:
                    exe = litellm_executable()
                    config = Path(tmp) / "litellm.yaml"
                    litellm_config(mock, config)
                    master = "sk-" + secrets.token_urlsafe(32)
                    port = free_port()
                    cmd = [*pin(0), str(exe), "--config", str(config), "--port", str(port)]
                    lenv = {**env, "LITELLM_MASTER_KEY": master}
                    with process(
                        cmd, lenv, f"http://127.0.0.1:{port}/health/liveliness", "LiteLLM proxy"
                    ):
                        measure(
                            "LiteLLM proxy",
                            f"http://127.0.0.1:{port}",
                            {"authorization": f"Bearer {master}"},
                            mock,
                            results,
                            anthropic_path="/v1/messages",
                        )
        finally:
            redis_server.stop()
            postgres.stop()
    report(results)


def report(results: dict) -> None:
    table = Table(
        title="Added by each target (target minus direct-to-mock), same run, same machine: "
        "target on CPU 0; mock, load, PostgreSQL and Redis on CPU 1"
    )
    table.add_column("measure")
    for name in results:
        table.add_column(name, justify="right")
    rows = [
        ("(a) sequential added latency", "sequential", "{:.2f} ms"),
        ("(b) requests/s at saturation (wrk -c32)", "rps", "{:.0f}"),
        ("(b) added p50 at 200 req/s", "p50", "{:.2f} ms"),
        ("(b) added p99 at 200 req/s", "p99", "{:.2f} ms"),
        ("(c) added time to first token", "ttft", "{:.2f} ms"),
        ("(c) added inter-chunk gap", "gap", "{:.3f} ms"),
        ("(d) Anthropic → OpenAI deployment, added", "translated", "{:.2f} ms"),
    ]
    for label, key, fmt in rows:
        cells = []
        for r in results.values():
            if key in r:
                cells.append(fmt.format(r[key]))
            else:
                cells.append("failed" if f"{key}_error" in r else "—")
        table.add_row(label, *cells)
    console.print(table)
    aigw = results.get("aigw", {})
    litellm = results.get("LiteLLM proxy", {})
    if aigw and litellm:
        console.print(
            f"aigw saturates at {aigw['rps'] / litellm['rps']:.1f}x LiteLLM proxy's req/s"
        )
    for client in ("httpx", "aiohttp"):
        bare = results.get(f"bare pass-through ({client})", {})
        if aigw and bare:
            console.print(
                f"aigw saturates at {aigw['rps'] / bare['rps']:.0%} of the bare {client} pass-through"
            )
    if "events" in aigw:
        recorded, queued = aigw["events"]
        console.print(
            f"aigw recorded {recorded} request events in events.requests "
            f"({queued} still queued after the consumer's last minute)"
        )


if __name__ == "__main__":
    main()
