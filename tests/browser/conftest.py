"""JupyterLab on 127.0.0.1 with a token, and Debian's Chromium driven by Python playwright.

Offline and isolated (the project's browser-test recipe): every Jupyter, IPython and
Chromium folder lives under the test's tmp root, JupyterLab asks for no news, no updates and no
extension index, and Playwright uses the system Chromium (no browser download).

Without Chromium, playwright or jupyterlab the browser tests skip, with the reason; when ``CI``
or ``THREADRUN_REQUIRE_BROWSER`` is set they fail instead.
"""
from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("THREADRUN_CHROMIUM", "/usr/bin/chromium")
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
REPO = Path(__file__).resolve().parents[2]


def _required() -> bool:
    return any(os.environ.get(name, "").strip() not in ("", "0", "false", "no")
               for name in ("CI", "THREADRUN_REQUIRE_BROWSER"))


def need(ok: bool, reason: str) -> None:
    """Skip (or, in CI, fail) when a browser-test prerequisite is missing."""
    if ok:
        return
    if _required():
        pytest.fail(f"{reason} (the browser test is required: CI or THREADRUN_REQUIRE_BROWSER "
                    f"is set)", pytrace=False)
    pytest.skip(reason)


def _check_prerequisites() -> None:
    need(os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK),
         f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set THREADRUN_CHROMIUM)")
    for module, package in (("playwright", "playwright"), ("jupyterlab", "jupyterlab"),
                            ("jupyterlab_widgets", "jupyterlab_widgets")):
        need(importlib.util.find_spec(module) is not None,
             f"{package} is not installed (pip install -e '.[test]')")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _isolated_env(root: Path) -> dict[str, str]:
    """The environment for JupyterLab and its kernels: nothing of $HOME, no OpenAI settings."""
    j = root / "jhome"
    env = {k: v for k, v in os.environ.items()
           if k not in ("THREADRUN_BASE_URL", "THREADRUN_API_KEY", "THREADRUN_ASSISTANT_ID",
                        "THREADRUN_PRICES", "JUPYTER_NO_CONFIG", "OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env.update(JUPYTER_PLATFORM_DIRS="1", JUPYTER_CONFIG_DIR=str(j / "config"),
               JUPYTER_DATA_DIR=str(j / "data"), JUPYTER_RUNTIME_DIR=str(j / "runtime"),
               IPYTHONDIR=str(j / "ipython"), JUPYTERLAB_SETTINGS_DIR=str(j / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(j / "lab-workspaces"),
               XDG_CONFIG_HOME=str(root / "xdg" / "config"),
               XDG_CACHE_HOME=str(root / "xdg" / "cache"),
               THREADRUN_HOME=str(root / "threadrun-home"), PYTHONUNBUFFERED="1")
    settings = j / "lab-settings"
    for name, value in (("apputils-extension/notification", {"fetchNews": "false",
                                                             "checkForUpdates": False}),
                        ("docmanager-extension/plugin", {"autosave": False})):
        path = settings / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    return env


class Lab:
    """A running JupyterLab: ``url``, ``token``, ``root`` (its root_dir), ``log`` (its output)."""

    def __init__(self, root: Path) -> None:
        self.root, self.port, self.token = root, _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "lab.log"
        self.env = _isolated_env(root)
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "Lab":
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--allow-root", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        request = urllib.request.Request(f"{self.url}/api/status",
                                         headers={"Authorization": f"token {self.token}"})
        end = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"JupyterLab exited:\n{self.log.read_text()}"
            try:
                urllib.request.urlopen(request, timeout=1).close()
                return self
            except OSError:
                assert time.monotonic() < end, f"JupyterLab did not start:\n{self.log.read_text()}"
                time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM: the server also shuts its kernels down."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a fresh tmp root (with notebooks/form.ipynb copied into it)."""
    _check_prerequisites()
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(REPO / "notebooks" / "form.ipynb", root / "form.ipynb")
    server = Lab(root).start()
    yield server
    server.stop()


@pytest.fixture
def page(lab):
    """A Chromium page (1280×1400), through the system Chromium."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS,
                                    env={**lab.env, "HOME": str(lab.root)})
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1400})
        finally:
            browser.close()
