"""The console script: `threadrun serve` and `threadrun demo`, run as a user would."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import requests


def test_serve_prints_its_base_url_and_answers_until_stopped(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "threadrun", "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", line), line
        answer = requests.get(line + "/assistants/asst_nope", timeout=5)
        assert answer.status_code == 404 and answer.json()["error"]["type"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_demo_sweeps_compares_and_plots_against_the_embedded_server_without_a_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["THREADRUN_HOME"] = str(tmp_path / "home")
    done = subprocess.run([sys.executable, "-m", "threadrun", "demo", "--latency", "0.05",
                           "--repeat", "2"], capture_output=True, text=True, env=env,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "local server at http://127.0.0.1:" in done.stdout
    assert "24 of 24 runs completed" in done.stdout
    for model in ("gpt-5.4-mini", "gpt-5.4-nano", "gpt-5.4"):
        assert model in done.stdout
    assert not (tmp_path / "home" / "assistants.json").exists()  # no stale entry per random port
    png = tmp_path / "threadrun-demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "threadrun", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_bare_threadrun_prints_the_help_and_version_works():
    bare = cli()
    assert bare.returncode == 0 and "serve" in bare.stdout and "providers" in bare.stdout
    assert "``" not in bare.stdout + cli("serve", "--help").stdout + cli("demo", "--help").stdout
    assert re.fullmatch(r"threadrun \d+\.\d+\.\d+\n", cli("--version").stdout)


def test_serve_errors_name_the_flags_and_suggest_the_fix():
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = cli("serve", "--port", str(busy.getsockname()[1]))
    assert taken.returncode == 2 and "--port 0 for any free port" in taken.stderr
    exposed = cli("serve", "--host", "0.0.0.0")
    assert exposed.returncode == 2 and "add --api-key KEY or set $THREADRUN_SERVER_API_KEY" in exposed.stderr
    assert "api_key" not in exposed.stderr
    for result in (taken, exposed):
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_serve_says_what_it_serves_on_stderr_and_keeps_stdout_to_the_url():
    proc = subprocess.Popen([sys.executable, "-m", "threadrun", "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        banner = proc.stderr.readline()
        assert banner.startswith(f"threadrun serve: Assistants v2 at {url}") and "Ctrl+C to stop" in banner
        assert "echo, openai" in banner
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_the_magics_help_is_plain_text(ip):
    doc = ip.find_cell_magic("threadrun").__doc__
    assert doc.startswith("%threadrun [--model MODEL]") and "``" not in doc and "::" not in doc[:5]
    assert "--reasoning-effort" in doc and "--no-interpolate" in doc


def test_serve_verbose_prints_one_line_per_request():
    proc = subprocess.Popen([sys.executable, "-m", "threadrun", "serve", "--port", "0", "--verbose"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        proc.stderr.readline()  # the banner
        requests.get(url + "/assistants/asst_nope", timeout=5)
        line = proc.stderr.readline()
        assert line.startswith("threadrun serve: 127.0.0.1 ") and '"GET /v1/assistants/asst_nope HTTP/1.1" 404' in line
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_the_demo_stays_on_echo_when_an_openai_key_is_set(tmp_path):
    """With OPENAI_API_KEY (and a base URL that would get the runs) the demo still sends nothing."""
    from standin_upstream import StandIn
    with StandIn() as openai:
        env = {**os.environ, "THREADRUN_HOME": str(tmp_path / "home"),
               "OPENAI_API_KEY": "sk-demo-must-not-use-0123456789", "OPENAI_BASE_URL": openai.url}
        done = subprocess.run([sys.executable, "-m", "threadrun", "demo", "--latency", "0.05",
                               "--repeat", "1"], capture_output=True, text=True, env=env,
                              timeout=120, cwd=tmp_path)
        assert openai.requests == []
    assert done.returncode == 0, done.stderr
    assert "12 of 12 runs completed" in done.stdout
    assert "echo" in done.stdout.splitlines()[0]
