"""The embedded runtime: started once per process on loopback, guarded by a per-process token."""
from __future__ import annotations

import socket

import requests

import threadrun
from threadrun.server import embedded as runtime


def test_without_a_base_url_runs_go_to_one_embedded_runtime_reused_across_calls():
    first = threadrun.run("user: hi", model="echo:gpt-4o", log=False, progress=False)
    url = runtime.running().url
    second = threadrun.run("user: again", model="echo:gpt-4o", log=False, progress=False)
    assert runtime.running().url == url and url.startswith("http://127.0.0.1:")
    assert list(first["status"]) == list(second["status"]) == ["completed"]
    assert second["reply"][0].startswith("echo: again")


def test_the_magic_uses_the_embedded_runtime_when_no_base_url_is_set(ip, monkeypatch):
    monkeypatch.delenv("THREADRUN_BASE_URL")
    df = ip.run_cell_magic("threadrun", "-m echo:gpt-4o-mini -t 0,1", "user: hi")
    assert list(df["status"]) == ["completed", "completed"] and set(df["provider"]) == {"echo"}


def test_the_embedded_runtime_listens_on_loopback_only():
    url, _ = runtime.embedded()
    server = runtime.running()
    assert server.host == "127.0.0.1"
    assert server.sockname[0] == "127.0.0.1"


def test_the_embedded_runtime_refuses_requests_without_its_token():
    url, token = runtime.embedded()
    assert requests.get(url + "/assistants/asst_x", timeout=5).status_code == 401
    wrong = requests.get(url + "/assistants/asst_x", headers={"Authorization": "Bearer guess"}, timeout=5)
    assert wrong.status_code == 401 and "guess" not in wrong.text
    right = requests.get(url + "/assistants/asst_x", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert right.status_code == 404


def test_a_non_loopback_host_header_is_refused_as_a_rebinding_page_would_send_it():
    url, token = runtime.embedded()
    answer = requests.post(url + "/assistants", json={"model": "gpt-4o"}, timeout=5,
                           headers={"Authorization": f"Bearer {token}", "Host": "evil.example:80"})
    assert answer.status_code == 421 and "evil.example" in answer.json()["error"]["message"]
    ok = requests.post(url + "/assistants", json={"model": "gpt-4o"}, timeout=5,
                       headers={"Authorization": f"Bearer {token}", "Host": "localhost"})
    assert ok.status_code == 200


def test_a_body_that_is_not_declared_json_is_refused_before_it_is_read():
    url, token = runtime.embedded()
    answer = requests.post(url + "/assistants", data='{"model": "gpt-4o"}', timeout=5,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"})
    assert answer.status_code == 415
    assert answer.json()["error"]["message"] == "Request bodies must be JSON (Content-Type: application/json)."


def test_a_wrong_token_is_refused_without_reading_a_large_body():
    url, _ = runtime.embedded()
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /v1/threads/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 900000\r\nAuthorization: Bearer nope\r\n\r\n")
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 401") and "connection: close" in answer.lower()


def test_threadrun_base_url_points_at_another_assistants_server_with_its_own_key(ip, keyed_server, monkeypatch):
    FAKE_KEY = "sk-threadrun-FAKE-KEY-0123456789abcdef"  # the keyed_server fixture's key
    monkeypatch.setenv("THREADRUN_BASE_URL", keyed_server.url)
    monkeypatch.setenv("THREADRUN_API_KEY", FAKE_KEY)
    df = ip.run_cell_magic("threadrun", "-m gpt-4o", "user: hi")
    assert df["status"][0] == "completed" and keyed_server.runs_created == 1
    assert df["provider"][0] == "echo"  # that server's default provider, read from the run


def test_a_corporate_proxy_in_the_environment_does_not_capture_loopback_traffic(monkeypatch):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    df = threadrun.run("user: hi", model="echo:gpt-4o", log=False, progress=False)
    assert list(df["status"]) == ["completed"]
