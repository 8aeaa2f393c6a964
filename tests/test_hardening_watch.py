"""Review of the deadline work (issue 11 points 3, 4, 10): each test fails on bc282b4..d1bbb71.

- a cancel held back by the rate gate was never sent within the 10 s confirm window;
- a connection back in its pool stayed marked as the last run's, so that run's deadline cut the
  socket under the next run to use it;
- a SOCKS proxy got plain connection classes: every run failed with a TypeError;
- a TLS-in-TLS transport has no ``shutdown``: the cut raised and killed the watchdog;
- the key a client was given (not named like a secret) was stored in clear when echoed, and a
  secret with a quote in it was stored escaped in the run JSON.
"""
from __future__ import annotations

import sys
import threading
import time
import types

import threadrun
from threadrun.http import watch
from threadrun.client import Client
from threadrun.http.watch import Watch

from test_hardening_stop import BODY, standin  # noqa: F401 - the stand-in fixture


def test_a_cancel_is_sent_at_once_even_when_the_rate_gate_is_full(standin):  # noqa: F811
    """rpm=4: the next slot after the create is 15 s away; the cancel must not wait for it."""
    client = Client(standin.url, api_key="", rpm=4)
    started = time.monotonic()
    try:
        result = client.run(dict(BODY), stream=False, deadline=1.0)
    finally:
        client.close()
    assert result.status == "cancelled", result.error
    assert standin.cancels == 1
    assert time.monotonic() - started < 10  # the gate's next slot is at 15 s


def test_a_deadline_never_cuts_a_connection_another_request_took_from_the_pool(server):
    """Once a run's request is done its connection is back in the pool, for any run to take;
    that run's deadline passing later must leave the connection alone."""
    from urllib3.util.connection import is_connection_dropped
    client = Client(server.url, api_key="")
    assistant = client.create_assistant("gpt-4o")
    first = Watch(deadline_s=None)
    pools = client.session.adapters["http://"].poolmanager.pools
    with watch.running(first):
        client.get_assistant(assistant["id"])  # done: the connection is back in the pool
        idle = [conn for key in pools.keys() for conn in pools[key].pool.queue
                if conn is not None and conn.sock is not None]
        assert idle
        first.trip("deadline")  # its deadline passes between two polls, say
        assert not any(is_connection_dropped(conn) for conn in idle)
    client.close()


def test_a_socks_proxy_keeps_its_own_connections(monkeypatch):
    """With PySocks installed, ALL_PROXY=socks5h://... must still connect through SOCKS."""
    socks = types.ModuleType("socks")  # a stand-in for PySocks: urllib3 only needs the names
    for name in ("PROXY_TYPE_SOCKS4", "PROXY_TYPE_SOCKS5", "SOCKS4", "SOCKS5", "HTTP"):
        setattr(socks, name, 1)
    socks.ProxyError = socks.GeneralProxyError = type("ProxyError", (Exception,), {})
    monkeypatch.setitem(sys.modules, "socks", socks)
    monkeypatch.delitem(sys.modules, "urllib3.contrib.socks", raising=False)
    import importlib
    contrib = importlib.import_module("urllib3.contrib.socks")  # as requests would with PySocks
    monkeypatch.setattr("requests.adapters.SOCKSProxyManager", contrib.SOCKSProxyManager)
    from threadrun.http.session import WatchedAdapter
    manager = WatchedAdapter().proxy_manager_for("socks5h://127.0.0.1:1080")
    pool = manager.connection_from_url("http://example.invalid/")
    assert pool.ConnectionCls.__name__ == "SOCKSConnection"
    pool._new_conn()  # the plain classes raised TypeError on _socks_options here


def test_a_cut_on_a_socket_without_shutdown_neither_raises_nor_stops_the_watchdog():
    class TLSInTLS:  # urllib3's SSLTransport: a `socket` inside, no shutdown of its own
        def __init__(self, sock):
            self.socket = sock

    import socket
    left, right = socket.socketpair()
    left.settimeout(5)
    conn = types.SimpleNamespace(sock=TLSInTLS(left), watched_by=None)
    doomed = Watch(deadline_s=0.05)
    doomed.start()
    doomed.attach(conn)
    doomed.attach_socket(conn)
    until = time.monotonic() + 10
    while doomed.tripped is None and time.monotonic() < until:
        time.sleep(0.01)
    assert doomed.tripped == "deadline"
    assert left.recv(1) == b""  # the raw socket inside was shut down
    later = Watch(deadline_s=0.05)  # and the watchdog still trips the next one
    later.start()
    threading.Event().wait(0.5)
    assert later.tripped == "deadline"
    for w in (doomed, later):
        w.close()
    left.close(), right.close()


def test_the_clients_own_key_is_masked_wherever_it_is_echoed(keyed_server, isolated):
    """A key given as api_key= or through --api-key-env NAME, whatever NAME is, is masked."""
    FAKE_KEY = "sk-threadrun-FAKE-KEY-0123456789abcdef"  # keyed_server's (tests/conftest.py)
    keyed_server.set_fault("failed=1")
    path = isolated / "runs.sqlite"
    client = Client(keyed_server.url, api_key=FAKE_KEY)
    try:
        result = client.run({**BODY, "assistant_id": client.create_assistant("m")["id"],
                             "instructions": f"say {FAKE_KEY}"}, stream=False)
    finally:
        client.close()
    from threadrun.rows.row import to_row
    from threadrun.rows.runlog import RunLog
    row = to_row(result)
    assert FAKE_KEY not in repr(row)
    with RunLog(path) as log:
        log.append(row, run=result.run, body=result.body)
    assert FAKE_KEY.encode() not in b"".join(p.read_bytes() for p in isolated.glob("runs.sqlite*"))


def test_a_secret_with_a_quote_is_masked_in_the_stored_json_too(server, isolated, monkeypatch):
    secret = 'hunter"2\\secretpw'
    monkeypatch.setenv("DB_PASSWORD", secret)
    path = isolated / "runs.sqlite"
    threadrun.run(f"user: the password is {secret}", base_url=server.url, log=str(path),
                  progress=False, interpolate=False)
    stored = b"".join(p.read_bytes() for p in isolated.glob("runs.sqlite*"))
    assert b"secretpw" not in stored


def test_the_watchdog_is_woken_only_for_an_earlier_first_deadline_and_still_trips_on_time(monkeypatch):
    """Issue 25 point 5: every run's deadline (600 s away, later than those before it) woke the
    watchdog thread, a thread switch per run and per engine call; it need wake only when the
    earliest deadline moves up. An earlier deadline still trips at its time."""
    dog = watch._Watchdog()
    woken = []
    notify = dog._cond.notify
    monkeypatch.setattr(dog._cond, "notify", lambda *a: (woken.append(1), notify(*a))[1])
    now = time.monotonic()
    watches = [Watch(deadline_s=600) for _ in range(4)]
    for w in watches:
        dog.track(w)
    dog.arm(watches[0], now + 600)  # starts the thread: it reads the heap itself
    dog.arm(watches[1], now + 700)  # later than the first: nobody needs waking
    dog.arm(watches[2], now + 650)
    assert woken == []
    started = time.monotonic()
    dog.arm(watches[3], started + 0.3)  # the new first deadline: the thread must wake for it
    assert woken == [1]
    while watches[3].tripped is None and time.monotonic() - started < 5:
        time.sleep(0.01)
    assert watches[3].tripped == "deadline" and 0.25 <= time.monotonic() - started < 2
    assert all(w.tripped is None for w in watches[:3])
