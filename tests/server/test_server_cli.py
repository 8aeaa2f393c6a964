"""The ``serve`` command helpers: options, one printed URL line, clean exit on SIGTERM."""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys

import requests

from threadrun.server.cli import add_serve_arguments

SERVE = ("import argparse, sys; from threadrun.server.cli import add_serve_arguments, serve_from_args; "
         "p = argparse.ArgumentParser(); add_serve_arguments(p); sys.exit(serve_from_args(p.parse_args()))")


def test_serve_arguments_have_the_documented_defaults():
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.latency, args.api_key, args.default_provider, args.fault,
            args.verbose) == (
        "127.0.0.1", 8808, 0.0, None, None, None, False)
    args = parser.parse_args(["--port", "0", "--latency", "0.5", "--fault", "429=0.1", "--api-key", "k"])
    assert (args.port, args.latency, args.fault, args.api_key) == (0, 0.5, "429=0.1", "k")


def test_serve_prints_one_url_line_serves_and_exits_0_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-c", SERVE, "--port", "0", "--api-key", "k"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        response = requests.post(url + "/assistants", json={"model": "m"},
                                 headers={"Authorization": "Bearer k"}, timeout=5)
        assert response.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""
        assert proc.stderr.read().startswith("threadrun serve: Assistants v2 at ")  # one banner line
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def test_serve_refuses_a_bad_fault_spec_with_exit_2():
    proc = subprocess.run([sys.executable, "-c", SERVE, "--port", "0", "--fault", "bogus=1"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "bogus=1" in proc.stderr and proc.stdout == ""


def test_serve_reads_its_key_from_the_environment_when_not_given():
    import os
    env = {**os.environ, "THREADRUN_SERVER_API_KEY": "env-key"}
    proc = subprocess.Popen([sys.executable, "-c", SERVE, "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        denied = requests.post(url + "/assistants", json={"model": "m"}, timeout=5)
        allowed = requests.post(url + "/assistants", json={"model": "m"},
                                headers={"Authorization": "Bearer env-key"}, timeout=5)
        assert (denied.status_code, allowed.status_code) == (401, 200)
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
