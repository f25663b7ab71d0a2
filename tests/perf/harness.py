"""What the benchmarks share: CPU pinning, child processes that must answer before they
are used, and percentiles."""

import contextlib
import gc
import os
import shutil
import subprocess
import tempfile
import time

import httpx


def pin(cpu: int) -> list[str]:
    """A taskset prefix when the machine has that CPU (and taskset)."""
    if (os.cpu_count() or 1) > cpu and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu)]
    return []


@contextlib.contextmanager
def process(args: list[str], env: dict, ready_url: str, name: str, timeout: float = 120):
    """Run `args` until the block ends; yield once `ready_url` answers. Its output goes to
    a file (a pipe nobody reads could fill and stall it) shown if it fails to start."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(ready_url, timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"{name} did not start:\n{log.read().decode()[-3000:]}")
            time.sleep(0.25)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def collector_paused():
    """No garbage collection in this process (the load generator) while it times
    requests: a full collection of its heap takes 40-60 ms here, and it would be counted
    against whichever target happened to be under test."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
