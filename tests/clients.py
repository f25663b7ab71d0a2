"""The real command-line clients the tests drive: Claude Code and Codex, from npm.

They are installed once into a cache outside the checkout (AIGW_CLIENTS_DIR, default
~/.cache/aigw/clients), at the versions below, the first time a test needs them; later
runs, and later clones, reuse them. Both packages ship a native binary: any Node.js with
npm installs them.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

PACKAGES = {"@anthropic-ai/claude-code": "2.1.332", "@openai/codex": "0.171.0"}
INSTALL_TIMEOUT_S = 900


def clients_dir() -> Path:
    configured = os.environ.get("AIGW_CLIENTS_DIR")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "aigw" / "clients"


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def installed(directory: Path) -> bool:
    stamp = directory / "installed.json"
    return stamp.exists() and json.loads(stamp.read_text()) == PACKAGES


def ensure_clients() -> Path:
    """The directory whose node_modules/.bin holds `claude` and `codex`."""
    directory = clients_dir()
    if installed(directory):
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}@{version}" for name, version in PACKAGES.items()]
    subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(directory),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            *specs,
        ],  # fmt: skip
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    (directory / "installed.json").write_text(json.dumps(PACKAGES))
    return directory


def binary(directory: Path, name: str) -> str:
    return str(directory / "node_modules" / ".bin" / name)
