"""The browser the portal tests drive: Debian's chromium, through Playwright.

Playwright's own browser download cannot work on a machine that reaches only package
registries, so the tests use the distribution's chromium, installed with apt the first
time a test needs it when the suite runs as root (as CI does); otherwise the tests are
skipped, saying how to install it.
"""

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu"]
INSTALL_TIMEOUT_S = 900


def ensure_chromium() -> str | None:
    """None once chromium is there (installed with apt now if it was missing), else why
    it is not."""
    if CHROMIUM.exists():
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "chromium is missing: install it with `apt-get install -y chromium` (as root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    result = subprocess.run(install, env=env, capture_output=True, timeout=INSTALL_TIMEOUT_S)
    if result.returncode != 0:  # the package lists may be missing on a fresh image
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        result = subprocess.run(install, env=env, capture_output=True, timeout=INSTALL_TIMEOUT_S)
    if result.returncode != 0 or not CHROMIUM.exists():
        return "installing chromium with apt failed: " + result.stderr.decode()[-500:]
    return None
