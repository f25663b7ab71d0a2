"""`aigw up` on the embedded default, as a new user runs it: first run, second run, Ctrl-C."""

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest

from api import keys
from api.embedded import free_port
from tests.helpers import operator_call


class Up:
    """A running `aigw up` whose output is read line by line in the background."""

    def __init__(self, data_dir, port: int):
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "AIGW_APP_DATABASE_URL", "REDIS_URL", "AIGW_ENV")
        }
        env["COLUMNS"] = "200"
        self.port = port
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "api.cli",
                "up",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.output)
                continue
            self.output.append(line)
            if text in line:
                return "".join(self.output)
        raise AssertionError(f"no {text!r} within {timeout}s:\n{''.join(self.output)}")

    def healthz(self, timeout: float = 30) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def started_processes(self, data_dir) -> list[psutil.Process]:
        children = psutil.Process(self.process.pid).children(recursive=True)
        postgres = [
            p
            for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"]
            and str(data_dir) in " ".join(p.info["cmdline"])
            and p.pid != self.process.pid
        ]
        return children + postgres

    def interrupt(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return code


def aigw_cli(data_dir, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(180)
def test_first_run_second_run_and_ctrl_c_on_the_embedded_stack(tmp_path):
    data_dir = tmp_path / "aigw-data"

    first = Up(data_dir, free_port())
    try:
        output = first.wait_for("serving on")
        password = re.search(r"Admin password\s+(\S+)", output).group(1)
        key = re.search(r"API key\s+(sk-aigw-\S+)", output).group(1)
        assert keys.is_well_formed(key)
        assert len(password) >= 12
        assert first.healthz().json() == {"status": "ok", "database": "ok", "redis": "ok"}

        # The printed key is real: the database resolves its digest to the demo team.
        digest_sql = f"select team_name from api.authenticate_key(sha256('{key}'::bytea))"
        resolved = aigw_cli(data_dir, "psql", "-At", "-c", digest_sql)
        assert resolved.stdout.strip() == "demo", resolved.stderr
        # The admin must change the one-time password at first login.
        flags = aigw_cli(
            data_dir, "psql", "-At", "-c", "select must_change_password from api.list_users()"
        )
        assert flags.stdout.strip() == "t"

        started = first.started_processes(data_dir)
        assert {p.name() for p in started} >= {"postgres", "redis-server"}
    finally:
        code = first.interrupt()
    assert code == 0, "".join(first.output)
    assert "Stopped." in "".join(first.output)
    gone = psutil.wait_procs(started, timeout=10)[1]
    assert gone == [], f"orphans after Ctrl-C: {gone}"

    second = Up(data_dir, free_port())
    try:
        output = second.wait_for("serving on")
        assert "Existing data reused" in output
        assert "sk-aigw-" not in output and "Admin password" not in output
        assert second.healthz().status_code == 200
        listed = aigw_cli(data_dir, "keys", "list")
        assert keys.display_prefix(key) in listed.stdout
        users = aigw_cli(data_dir, "psql", "-At", "-c", "select count(*) from api.list_users()")
        assert users.stdout.strip() == "1"
        started = second.started_processes(data_dir)
    finally:
        assert second.interrupt() == 0
    assert psutil.wait_procs(started, timeout=10)[1] == []


def serve(command: list[str], db, redis_url, port: int, **settings: str) -> subprocess.Popen:
    """A server process on DATABASE_URL and REDIS_URL, with a header deadline of 1 s (and
    any other `settings`)."""
    env = {**os.environ, "DATABASE_URL": db.admin, "REDIS_URL": redis_url, "COLUMNS": "200"}
    env.pop("AIGW_ENV", None)
    env["AIGW_HEADER_TIMEOUT_S"] = "1"
    env.update(settings)
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            return process
        except httpx.TransportError:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)


def assert_a_silent_client_is_cut_off_within(port: int, seconds: float) -> None:
    """The server's header deadline, as configured in its environment."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds + 5) as silent:
        started = time.monotonic()
        assert silent.recv(1) == b""
        assert time.monotonic() - started < seconds + 1.5


def test_with_database_url_and_redis_url_set_up_starts_nothing(db, redis_url, tmp_path):
    port = free_port()
    process = serve(
        [sys.executable, "-m", "api.cli", "up", "--port", str(port)], db, redis_url, port
    )
    try:
        assert psutil.Process(process.pid).children(recursive=True) == []
        assert_a_silent_client_is_cut_off_within(port, 1)  # the server of the settings
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0
    assert "PostgreSQL (DATABASE_URL)" in output and "Redis (REDIS_URL)" in output
    # The test database was migrated already and is bootstrapped here on first `up`.
    assert "First run" in output


def test_up_registers_the_models_of_the_config_that_the_registry_lacks(db, redis_url, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "model_list:\n  - model_name: house-model\n"
        "    litellm_params: {model: openai/house-model}\n"
        "    model_info: {max_output_tokens: 512}\n"
    )
    port = free_port()
    command = [sys.executable, "-m", "api.cli", "up", "--port", str(port)]
    process = serve(command, db, redis_url, port, AIGW_CONFIG=str(config))
    try:
        ((key,),) = operator_call(db.admin, "select key from api.issue_key('demo', 'probe')")
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "house-model", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    assert "Models: registered house-model from the model config" in output
    assert "house-model has no price" in " ".join(output.split())
    assert operator_call(
        db.admin, "select max_output_tokens from api.list_models() where name = 'house-model'"
    ) == [(512,)]


def test_the_process_manager_command_line_serves_behind_the_same_protocol(db, redis_url):
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "api.app:from_environment",
        "--http",
        "api.server:GuardedHttpProtocol",
        "--ws",
        "none",
        "--port",
        str(port),
    ]
    process = serve(command, db, redis_url, port)
    try:
        assert_a_silent_client_is_cut_off_within(port, 1)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


def test_a_port_in_use_is_reported_before_anything_starts(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = aigw_cli_no_data_dir("up", "--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert not (tmp_path / "pg").exists()


def aigw_cli_no_data_dir(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=60,
        check=False,
    )
